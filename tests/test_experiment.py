"""Experiments: a file and the flags it stands for give the same jobs; checks name the key and
the file; the experiment round-trips through run.json and TOML; jobs expand lazily."""

import itertools
import json
import time
import tomllib

import pytest

from mnistbench.cli import build_parser
from mnistbench.errors import ParameterError
from mnistbench.run.experiment import Experiment

ISSUE_EXAMPLE = """\
dataset = "digits"
seed = 0
repeats = 2
shifts = ["rot180"]
[algorithms.knn]              # an algorithm at its defaults
[algorithms.tree]
max_depth = 10                # = --set tree.max_depth=10
[algorithms.mlp.grid]
batch_size = [32, 200]        # = --grid mlp.batch_size=32,200
"""
ISSUE_FLAGS = ["--algos", "knn,tree,mlp", "--dataset", "digits", "--seed", "0", "--repeats", "2",
               "--shifts", "rot180", "--set", "tree.max_depth=10", "--grid",
               "mlp.batch_size=32,200"]


def ids(experiment):
    return [spec.job_id for spec in experiment.checked().jobs()]


def from_flags(*flags):
    return Experiment.from_args(build_parser().parse_args(list(flags)))


@pytest.fixture
def example(tmp_path):
    path = tmp_path / "experiment.toml"
    path.write_text(ISSUE_EXAMPLE)
    return path


def test_the_file_and_its_flags_give_the_same_job_ids(example):
    from_file = Experiment.from_file(example)
    assert ids(from_file) == ids(from_flags(*ISSUE_FLAGS))
    assert len(ids(from_file)) == 2 + 2 + 2 * 2
    assert from_file.checked() == from_flags(*ISSUE_FLAGS).checked()


def test_flags_beside_a_file_override_it(example):
    experiment = from_flags(str(example), "--seed", "5", "--set", "tree.max_depth=3",
                            "--grid", "knn.k=1,3").checked()
    assert experiment.seed == 5 and experiment.dataset == "digits"
    algorithms = {algorithm.name: algorithm for algorithm in experiment.algorithms}
    assert algorithms["tree"].params == {"max_depth": 3}
    assert algorithms["knn"].grid == {"k": [1, 3]}
    only_knn = from_flags(str(example), "--algos", "knn").checked()
    assert [algorithm.name for algorithm in only_knn.algorithms] == ["knn"]


@pytest.mark.parametrize("flags", [
    ["--algos", "knn,tree", "--set", "knn.k=1,3", "--grid", "tree.max_depth=2,None",
     "--grid", "knn.augment='none',None", "--target-accuracy", "0.99"],
    ["--algos", "sklearn.svm:SVC", "--set", "SVC.C=3", "--set", "SVC.kernel=linear"],
    ["--algos", "tree", "--grid", "tree.max_depth=None,3", "--set", "tree.criterion=entropy"],
])
def test_the_printed_file_reads_back_as_the_same_jobs(flags, tmp_path):
    experiment = from_flags(*flags, "--dataset", "digits").checked()
    path = tmp_path / "printed.toml"
    path.write_text(experiment.to_toml())
    assert ids(Experiment.from_file(path)) == ids(experiment)


def test_the_experiment_round_trips_through_json(example):
    experiment = Experiment.from_file(example).checked()
    again = Experiment.from_json(json.loads(json.dumps(experiment.to_json())))
    assert again == experiment and ids(again) == ids(experiment)


def test_an_estimator_of_your_own_has_a_class_key(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('dataset = "digits"\n[algorithms.my-svc]\nclass = "sklearn.svm:SVC"\nC = 3\n')
    [spec] = Experiment.from_file(path).checked().jobs()
    assert (spec.algorithm, spec.target, spec.params) == ("my-svc", "sklearn.svm:SVC", {"C": 3})


@pytest.mark.parametrize("text, message", [
    ('sed = 1\n[algorithms.knn]\n', "unknown key 'sed'; the keys are: "),
    ('seed = "one"\n[algorithms.knn]\n', "seed must be an integer, got 'one'"),
    ('seed = -1\n[algorithms.knn]\n', r"seed must be an integer in \[0, "),
    ('dataset = "digits"\n', r"no algorithm to run: add an \[algorithms.NAME\] table"),
    ('[algorithms.nope]\n', "unknown algorithm 'nope'"),
    ('[algorithms.knn]\nk = -2\n', "k must be an integer >= 1, got -2"),
    ('[algorithms.knn.grid]\nk = 3\n', "algorithms.knn.grid.k must be a list of at least one"),
    ('[algorithms.knn]\nrandom_state = 3\n', "knn.random_state is set by --seed"),
    ('backend = "slurm"\n[algorithms.knn]\n', "backend: unknown backend 'slurm'"),
    ('n_jobs = 2\nbackend = "ray"\n[algorithms.knn]\n', "is for the local backend"),
    ('seed = [\n', "not a valid TOML file"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(text, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=message) as caught:
        Experiment.from_file(path).checked()
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_resume_extends_by_algorithms_seeds_and_values_and_keeps_the_conditions(example):
    experiment = Experiment.from_file(example).checked()
    extended = experiment.extended_by({"algos": "linear", "repeats": 3,
                                       "grid": {"mlp": {"batch_size": [32, 64]}}}).checked()
    assert [algorithm.name for algorithm in extended.algorithms] == ["knn", "tree", "mlp",
                                                                     "linear"]
    assert set(ids(experiment)) - set(ids(extended)) == {
        job_id for job_id in ids(experiment) if "mlp" in job_id and job_id not in ids(extended)}
    assert extended.job_count() == 3 * (1 + 1 + 2 + 1)
    with pytest.raises(ParameterError, match="a run holds one dataset"):
        experiment.extended_by({"dataset": "mnist"})
    with pytest.raises(ParameterError, match="evaluated with conditions rot180"):
        experiment.extended_by({"shifts": "blur"})


def test_jobs_expand_lazily_so_a_huge_request_starts_at_once():
    experiment = Experiment.from_options("knn", dataset="digits", repeats=100_000_000)
    started = time.perf_counter()
    checked = experiment.checked()
    first = list(itertools.islice(checked.jobs(), 3))
    assert time.perf_counter() - started < 5
    assert checked.job_count() == 100_000_000 and [spec.seed for spec in first] == [0, 1, 2]


def test_print_experiment_prints_the_file_a_command_line_stands_for(cli):
    result = cli(*ISSUE_FLAGS, "--print-experiment")
    assert result.returncode == 0, result.stderr
    printed = Experiment.from_document(tomllib.loads(result.stdout))
    assert ids(printed) == ids(from_flags(*ISSUE_FLAGS))
    assert "[algorithms.mlp.grid]\nbatch_size = [32, 200]" in result.stdout


def test_run_of_a_file_and_a_large_request_needs_yes(tmp_path, cli):
    path = tmp_path / "small.toml"
    path.write_text('dataset = "digits"\n[algorithms.tree]\nmax_depth = 4\n')
    result = cli("run", path, "--out", tmp_path / "run", "--no-report", "--seed", "2")
    assert result.returncode == 0, result.stderr
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["request"]["seed"] == 2 and info["request"]["algorithms"]["tree"]["params"] == {
        "max_depth": "4"}
    large = cli("--algos", "tree", "--dataset", "digits", "--repeats", "10001", "--out",
                tmp_path / "big")
    assert large.returncode == 2 and "holds 10,001 jobs; run it with --yes" in large.stderr
    assert not (tmp_path / "big").exists()
