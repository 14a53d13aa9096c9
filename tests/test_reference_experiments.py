"""Each reference run keeps the experiment file it came from: without training anything, the
file expands to exactly the jobs the run holds."""

import json
from pathlib import Path

import pandas as pd
import pytest

from mnistbench.run.experiment import Experiment
from mnistbench.run.spec import decode_params

REFERENCE = Path(__file__).parent.parent / "results" / "reference"
RUNS = sorted(path.name for path in REFERENCE.iterdir() if (path / "run.json").is_file())


def test_every_reference_run_has_its_experiment_file():
    assert len(RUNS) == 19
    assert [name for name in RUNS if not (REFERENCE / name / "experiment.toml").is_file()] == []


def stored_recipes(name):
    """``{job_id: (resolved parameters, chosen parameters)}`` of a reference run's jobs."""
    summary = pd.read_csv(REFERENCE / name / "summary.csv")
    return {row.job_id: (json.loads(row.resolved), json.loads(row.chosen))
            for row in summary.itertuples()}


def stored_job_ids(name):
    """The job ids of a reference run's summary, in the order the run ran them."""
    return pd.read_csv(REFERENCE / name / "summary.csv")["job_id"].tolist()


def pinned_to_the_stored_recipe(file_params, job_params, recipe):
    """Whether ``file_params`` are the run's ``job_params`` plus pins that name what the run
    resolved: a ``preset`` that was then the default, also inside an ensemble's members
    (checked against what each member recorded it chose)."""
    resolved, chosen = recipe
    for key, value in file_params.items():
        if job_params.get(key) == value:
            continue
        if key in job_params and key != "members":
            return False
        if key == "members":
            names = [member if isinstance(member, str) else member[0] for member in value]
            if tuple(names) != tuple(job_params.get("members", resolved["members"])):
                return False
            pins = [(name, member[1]) for name, member in zip(names, value)
                    if not isinstance(member, str)]
            if any(chosen[name].get(param) != pinned for name, params in pins
                   for param, pinned in params.items()):
                return False
        elif resolved.get(key) != value:
            return False
    return True


@pytest.mark.parametrize("name", RUNS)
def test_the_experiment_file_expands_to_the_runs_jobs(name):
    info = json.loads((REFERENCE / name / "run.json").read_text())
    jobs = list(Experiment.from_file(REFERENCE / name / "experiment.toml").checked().jobs())
    if "request" in info and "jobs" not in info:  # run format 3 lists no jobs: its summary does
        assert [spec.job_id for spec in jobs] == stored_job_ids(name)
    elif "request" in info:
        # the same jobs, in order; where a default has changed since, the file pins the recipe
        # the run used (its id then differs, so the run's own id is checked by its recipe)
        recipes = stored_recipes(name)
        assert len(jobs) == len(info["jobs"])
        for spec, job in zip(jobs, info["jobs"]):
            assert (spec.algorithm, spec.dataset, spec.seed) == (
                job["algorithm"], job["dataset"], job["seed"])
            if spec.job_id != job["job_id"]:
                assert pinned_to_the_stored_recipe(spec.params, decode_params(job["params"]),
                                                   recipes[job["job_id"]]), spec.params
    else:  # a run from before job ids: the same algorithm, parameters, data and seed
        assert [(spec.algorithm, spec.params, spec.dataset, spec.seed) for spec in jobs] == [
            (job["algorithm"], job["params"], job["dataset"], job["seed"])
            for job in info["jobs"]]


def test_a_pin_that_names_another_recipe_is_caught():
    recipe = ({"preset": "fast", "epochs": 3}, {"preset": "fast"})
    assert pinned_to_the_stored_recipe({"preset": "fast"}, {}, recipe)
    assert not pinned_to_the_stored_recipe({"preset": "adaptive"}, {}, recipe)
    assert not pinned_to_the_stored_recipe({"epochs": 4}, {"epochs": 3}, recipe)
    members = ({"members": ["svm", "mlp"]}, {"svm": {}, "mlp": {"preset": "adam-100"}})
    assert pinned_to_the_stored_recipe({"members": ("svm", ("mlp", {"preset": "adam-100"}))},
                                       {}, members)
    assert not pinned_to_the_stored_recipe({"members": ("svm", ("mlp", {"preset": "other"}))},
                                           {}, members)
