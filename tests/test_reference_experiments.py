"""Each reference run keeps the experiment file it came from: without training anything, the
file expands to exactly the jobs the run holds."""

import json
from pathlib import Path

import pytest

from mnistbench.run.experiment import Experiment

REFERENCE = Path(__file__).parent.parent / "results" / "reference"
RUNS = sorted(path.name for path in REFERENCE.iterdir() if (path / "run.json").is_file())


def test_every_reference_run_has_its_experiment_file():
    assert len(RUNS) == 16
    assert [name for name in RUNS if not (REFERENCE / name / "experiment.toml").is_file()] == []


@pytest.mark.parametrize("name", RUNS)
def test_the_experiment_file_expands_to_the_runs_jobs(name):
    info = json.loads((REFERENCE / name / "run.json").read_text())
    jobs = list(Experiment.from_file(REFERENCE / name / "experiment.toml").checked().jobs())
    if "request" in info:
        assert [spec.job_id for spec in jobs] == [job["job_id"] for job in info["jobs"]]
    else:  # a run from before job ids: the same algorithm, parameters, data and seed
        assert [(spec.algorithm, spec.params, spec.dataset, spec.seed) for spec in jobs] == [
            (job["algorithm"], job["params"], job["dataset"], job["seed"])
            for job in info["jobs"]]
