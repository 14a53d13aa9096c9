"""Job specs: stable ids, expansion of repeats and grids, and the checks made before a run."""

import numpy as np
import pytest

from mnistbench.errors import ParameterError
from mnistbench.run.experiment import Experiment
from mnistbench.run.spec import JobSpec, build_classifier
from mnistbench.run.values import parse_assignment


def expand(algos, dataset, params=None, grid=None, **options):
    """The checked jobs of an experiment, as a list."""
    return list(Experiment.from_options(algos, params, grid, dataset=dataset,
                                        **options).checked().jobs())


def test_job_id_is_a_hash_of_the_content_the_same_on_every_machine():
    spec = JobSpec("knn", {"k": (1, 3)}, "digits", 2)
    # a literal: a change in how ids are made would orphan every stored run's jobs
    assert spec.job_id == "knn-cd458516e1"
    assert JobSpec("knn", {"k": (np.int64(1), 3)}, "digits", 2).job_id == spec.job_id
    others = [JobSpec("knn", {"k": (1, 5)}, "digits", 2), JobSpec("knn", {"k": (1, 3)}, "mnist", 2),
              JobSpec("knn", {"k": (1, 3)}, "digits", 3),
              JobSpec("knn", {"k": (1, 3)}, "digits", 2, holdout=True)]
    assert len({spec.job_id} | {other.job_id for other in others}) == 5


def test_spec_round_trips_through_json_keeping_tuples():
    spec = JobSpec("tree", {"max_depth": None, "criterion": "entropy"}, "mnist", 4)
    assert JobSpec.from_dict(spec.to_dict()) == spec
    knn = JobSpec.from_dict(JobSpec("knn", {"k": (1, 3)}).to_dict())
    assert knn.params["k"] == (1, 3) and isinstance(knn.params["k"], tuple)


def test_repeats_give_consecutive_seeds_and_grids_the_cross_product():
    jobs = expand("knn,tree", "digits", seed=5, repeats=2,
                  grid={"tree": {"max_depth": [2, None], "criterion": ["gini", "entropy"]}})
    assert [(job.algorithm, job.seed) for job in jobs[:2]] == [("knn", 5), ("knn", 6)]
    trees = [(job.params["max_depth"], job.params["criterion"], job.seed) for job in jobs[2:]]
    assert trees == [(2, "gini", 5), (2, "gini", 6), (2, "entropy", 5), (2, "entropy", 6),
                     (None, "gini", 5), (None, "gini", 6), (None, "entropy", 5),
                     (None, "entropy", 6)]
    assert len({job.job_id for job in jobs}) == 10


def test_a_name_given_twice_runs_once_and_a_string_is_a_comma_list():
    assert [job.algorithm for job in expand("knn, tree,knn", "digits")] == ["knn", "tree"]
    assert [job.algorithm for job in expand("knn", "digits")] == ["knn"]


@pytest.mark.parametrize("kwargs, message", [
    ({"algos": ""}, "no algorithm given; choose from: knn, tree"),
    ({"seed": -1}, r"seed must be an integer in \[0, "),
    ({"repeats": 0}, r"repeats must be an integer in \[1, "),
    ({"params": {"tree": {"random_state": 3}}}, "random_state is set by --seed and --repeats"),
    ({"grid": {"mlp": {"epochs": [1, 2]}}}, "'mlp', which is not among the algorithms"),
    ({"dataset": "cifar"}, "dataset: unknown dataset 'cifar'"),
    ({"shifts": "spin"}, "unknown shift 'spin'"),
    ({"target_accuracy": 1.5}, "target accuracy must be a number between 0 and 1"),
    ({"grid": {"knn": {"k": [1, -2]}}}, "k must be an integer >= 1, got -2"),
    ({"params": {"knn": {"k": 1}}, "grid": {"knn": {"k": [3]}}}, "knn.k is given by both"),
    ({"grid": {"knn": {"k": []}}}, "needs at least one value"),
])
def test_bad_requests_fail_before_anything_runs(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        expand(**{"algos": "knn,tree", "dataset": "digits", **kwargs})


@pytest.mark.parametrize("text, expected", [
    ("knn.k=1,3,5", ("knn", "k", [1, 3, 5])),
    ("knn.k=(1,3),(5, 7)", ("knn", "k", [(1, 3), (5, 7)])),
    ("tree.max_depth=2,None", ("tree", "max_depth", [2, None])),
    ("tree.criterion='gini',entropy", ("tree", "criterion", ["gini", "entropy"])),
    ("tf-mlp.learning_rate=1e-3", ("tf-mlp", "learning_rate", [0.001])),
])
def test_values_are_literals_split_at_top_level_commas(text, expected):
    assert parse_assignment(text, "--grid") == expected


def test_parameters_are_checked_again_after_the_seed_is_set():
    with pytest.raises(ParameterError, match=r"random_state must be an integer in \[0, "):
        build_classifier(JobSpec("tree", {}, "digits", -1))
