"""The runner and its store: tidy files, per-image outputs, failures, resume and extension."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from mnistbench import load_run
from mnistbench.classifiers import registry
from mnistbench.errors import DataError, ParameterError
from mnistbench.run.runner import resume_benchmark, run_benchmark
from mnistbench.run.experiment import Experiment
from mnistbench.run.store import RunStore


def expand(algos, dataset, params=None, grid=None, **options):
    """The checked jobs of an experiment, as a list."""
    return list(Experiment.from_options(algos, params, grid, dataset=dataset,
                                        **options).checked().jobs())


FILES = {"summary.csv", "per_class.csv", "confusion.csv", "sweep.csv", "run.json", "jobs"}


@pytest.fixture
def fakes(monkeypatch):
    for name, target in (("boom", "Boom"), ("ctrl-c", "CtrlC"), ("logs-slowly", "LogsSlowly")):
        monkeypatch.setitem(registry.ALGORITHMS, name, f"fake_algorithms:{target}")


def job_folders(run_dir):
    """``{job_id: (inode, mtime_ns of job.json)}``: changes if a job is written again."""
    return {path.name: (path.stat().st_ino, (path / "job.json").stat().st_mtime_ns)
            for path in (run_dir / "jobs").iterdir() if not path.name.startswith(".")}


def test_run_writes_tidy_files_and_per_image_outputs(tmp_path, digits):
    summary = run_benchmark(["knn", "tree"], dataset="digits", seed=3, out=tmp_path,
                            params={"knn": {"k": (1, 3)}})
    assert FILES <= {p.name for p in tmp_path.iterdir()}
    # per-image answers once, in each job's folder: no run-level copy
    assert not (tmp_path / "predictions.csv").exists()
    assert {p.name for p in tmp_path.glob("jobs/*/predictions.*")} == {"predictions.parquet"}
    assert summary.attrs["directory"] == str(tmp_path)
    assert summary["algorithm"].tolist() == ["knn", "tree"]
    assert (summary["status"] == "ok").all() and (summary["accuracy"] > 0.7).all()
    assert summary["latency_calls"].min() >= 100
    assert json.loads(summary.loc[0, "params"]) == {"k": "(1, 3)"}
    assert json.loads(summary.loc[1, "resolved"]) == {
        "criterion": "gini", "max_depth": None, "min_samples_leaf": 1, "augment": "none",
        "random_state": 3}
    on_disk = pd.read_csv(tmp_path / "summary.csv")
    assert on_disk["job_id"].tolist() == summary["job_id"].tolist()
    assert on_disk["accuracy"].tolist() == pytest.approx(summary["accuracy"].tolist())
    confusion = pd.read_csv(tmp_path / "confusion.csv")
    assert confusion.groupby("job_id", sort=False)["count"].sum().tolist() == [360, 360]
    assert set(confusion["condition"]) == {"test"}
    run = load_run(tmp_path)
    predictions = run.predictions
    assert predictions.columns.tolist() == ["job_id", "condition", "index", "true", "predicted",
                                            "confidence"]
    for job_id, accuracy in zip(summary["job_id"], summary["accuracy"]):
        rows = predictions[predictions["job_id"] == job_id]
        assert (rows["true"] == rows["predicted"]).mean() == pytest.approx(accuracy)
        assert rows["true"].tolist() == digits.y_test.tolist()
        proba = run.probabilities(job_id)
        assert proba.shape == (360, 10)
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
        np.testing.assert_allclose(proba.max(axis=1), rows["confidence"], rtol=1e-6)
    per_class = pd.read_csv(tmp_path / "per_class.csv")
    assert per_class.groupby("job_id")["support"].sum().tolist() == [360, 360]
    assert pd.read_csv(tmp_path / "sweep.csv")["k"].tolist() == [1, 3]
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "complete" and info["jobs_done"] == 2
    assert info["dataset_checksum"] == digits.checksum and info["request"]["seed"] == 3
    assert {"numpy", "scikit-learn"} <= set(info["versions"])
    assert info["pid"] > 0 and info["heartbeat"] and len(info["attempts"]) == 1


def test_load_run_tables_equal_the_csv_files(tmp_path):
    run_benchmark(["knn", "mlp"], dataset="digits", out=tmp_path, params={"mlp": {"epochs": 3}})
    run = load_run(tmp_path)
    for name in ("summary", "per_class", "confusion", "sweep", "history"):
        pd.testing.assert_frame_equal(getattr(run, name), pd.read_csv(tmp_path / f"{name}.csv"),
                                      check_dtype=False)
    assert len(run.history) == 3 and "complete, 2 of 2 jobs" in run.state
    with pytest.raises(ParameterError, match="no finished job 'knn-0' in .*; its jobs are: knn-"):
        run.probabilities("knn-0")
    with pytest.raises(ParameterError, match="has no condition 'rot180'; it has: test"):
        run.probabilities(run.job_ids[0], "rot180")


@pytest.mark.parametrize("path, run_json, message", [
    ("missing", None, "is not a folder holding an mnistbench run"),
    ("empty", None, r"holds no mnistbench run \(no run.json\)"),
    ("garbage", "{", "run.json is not valid JSON"),
    ("legacy", '{"jobs": [{"job": 1}], "status": "complete"}', "from before job folders"),
])
def test_load_run_of_a_non_run_is_a_data_error(tmp_path, path, run_json, message):
    if path != "missing":
        (tmp_path / path).mkdir()
    if run_json is not None:
        (tmp_path / path / "run.json").write_text(run_json)
    with pytest.raises(DataError, match=message):
        load_run(tmp_path / path)
    if path != "missing":
        with pytest.raises(DataError, match=message):
            resume_benchmark(tmp_path / path)


def test_repeats_and_grid_make_one_job_each(tmp_path):
    summary = run_benchmark(["tree"], dataset="digits", out=tmp_path, repeats=2, seed=1,
                            grid={"tree": {"max_depth": [3, 6]}})
    assert summary["seed"].tolist() == [1, 2, 1, 2]
    assert [json.loads(p) for p in summary["params"]] == [{"max_depth": "3"}] * 2 + [
        {"max_depth": "6"}] * 2
    assert summary["job_id"].nunique() == 4
    assert [json.loads(c)["depth"] for c in summary["chosen"]] == [3, 3, 6, 6]


def test_seeds_reproduce_and_differ(tmp_path):
    summary = run_benchmark(["tree"], dataset="digits", out=tmp_path / "a", repeats=2)
    again = run_benchmark(["tree"], dataset="digits", out=tmp_path / "b", repeats=2)
    assert summary["job_id"].tolist() == again["job_id"].tolist()
    assert summary["accuracy"].tolist() == again["accuracy"].tolist()
    assert summary.loc[0, "accuracy"] != summary.loc[1, "accuracy"]


def test_a_failing_job_is_a_row_not_a_crash(tmp_path, fakes):
    summary = run_benchmark(["boom", "knn"], dataset="digits", out=tmp_path)
    assert summary["status"].tolist() == ["error", "ok"]
    assert summary.loc[0, "error"] == "RuntimeError: the model exploded"
    assert pd.read_csv(tmp_path / "summary.csv")["status"].tolist() == ["error", "ok"]
    with pytest.raises(ParameterError, match="failed .* and has no probabilities"):
        load_run(tmp_path).probabilities(summary.loc[0, "job_id"])


def test_logging_time_is_left_out_of_fit_time(tmp_path, fakes):
    summary = run_benchmark(["logs-slowly"], dataset="digits", out=tmp_path)
    assert summary.loc[0, "status"] == "ok" and summary.loc[0, "fit_s"] < 0.25


def test_interrupt_keeps_finished_jobs_and_resume_finishes(tmp_path, fakes, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(["knn", "ctrl-c", "tree"], dataset="digits", out=tmp_path)
    assert pd.read_csv(tmp_path / "summary.csv")["algorithm"].tolist() == ["knn"]
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "interrupted" and info["jobs_done"] == 1
    knn = job_folders(tmp_path)
    monkeypatch.setitem(registry.ALGORITHMS, "ctrl-c", "mnistbench.classifiers.tree:DecisionTree")
    summary = resume_benchmark(tmp_path)
    assert summary["algorithm"].tolist() == ["knn", "ctrl-c", "tree"]
    assert (summary["status"] == "ok").all()
    assert {job_id: job_folders(tmp_path)[job_id] for job_id in knn} == knn  # not recomputed
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "complete" and [a["status"] for a in info["attempts"]] == [
        "interrupted", "complete"]


def test_resume_reruns_failed_jobs_and_extends_with_algorithms_and_repeats(tmp_path, fakes,
                                                                           monkeypatch):
    run_benchmark(["boom", "tree"], dataset="digits", out=tmp_path)
    before, loaded = job_folders(tmp_path), load_run(tmp_path)
    monkeypatch.setitem(registry.ALGORITHMS, "boom", "mnistbench.classifiers.tree:DecisionTree")
    summary = resume_benchmark(tmp_path, algos=["knn"], repeats=2)
    assert summary["algorithm"].tolist() == ["boom", "tree", "boom", "tree", "knn", "knn"]
    assert summary["seed"].tolist() == [0, 0, 1, 1, 0, 1]
    assert (summary["status"] == "ok").all()
    after = job_folders(tmp_path)
    boom, tree = summary.loc[0, "job_id"], summary.loc[1, "job_id"]
    assert after[tree] == before[tree] and after[boom] != before[boom]
    assert list(load_run(tmp_path).info["request"]["algorithms"]) == ["boom", "tree", "knn"]
    assert loaded.state == "complete, 6 of 6 jobs finished"  # read now, not at load
    again = resume_benchmark(tmp_path)  # nothing left to do
    assert again["job_id"].tolist() == summary["job_id"].tolist()
    assert job_folders(tmp_path) == after


def test_a_run_is_never_mixed_with_another(tmp_path):
    run_benchmark(["tree"], dataset="digits", out=tmp_path)
    with pytest.raises(ParameterError, match="already holds a run .complete, 1 of 1.*--resume"):
        run_benchmark(["tree"], dataset="digits", out=tmp_path)
    with pytest.raises(ParameterError, match="this run is on digits; a run holds one dataset"):
        resume_benchmark(tmp_path, dataset="mnist")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        run_benchmark(["tree"], dataset="digits", out=tmp_path / "file")
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 1


def test_a_second_writer_is_refused(tmp_path):
    run_benchmark(["tree"], dataset="digits", out=tmp_path)
    holder = RunStore.open(tmp_path)  # as if another process were resuming it now
    try:
        with pytest.raises(ParameterError, match="being written by another mnistbench process"):
            resume_benchmark(tmp_path, algos=["knn"])
    finally:
        holder.release()
    assert resume_benchmark(tmp_path, algos=["knn"])["algorithm"].tolist() == ["tree", "knn"]


def test_resume_refuses_other_data(tmp_path):
    run_benchmark(["tree"], dataset="digits", out=tmp_path)
    info = json.loads((tmp_path / "run.json").read_text())
    info["dataset_checksum"] = "0" * 32
    (tmp_path / "run.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="is not the data this run used"):
        resume_benchmark(tmp_path)
    RunStore.open(tmp_path).release()  # the refused resume let go of the run


def test_all_expands_to_every_registered_algorithm():
    assert [job.algorithm for job in expand("all", "digits")] == registry.algorithm_names()


def test_save_models_keeps_loadable_models_and_a_failed_save_keeps_results(
        tmp_path, monkeypatch):
    from mnistbench import load_model
    from mnistbench.run import job

    summary = run_benchmark(["tree"], dataset="digits", out=tmp_path / "run",
                            save_models=tmp_path / "models")
    loaded = load_model(tmp_path / "models" / summary.loc[0, "job_id"])
    assert loaded.get_params()["random_state"] == 0
    (tmp_path / "blocked").write_text("a file where the models folder should be")
    with pytest.raises(ParameterError, match="--save-models .*blocked is a file"):
        run_benchmark(["tree"], dataset="digits", out=tmp_path / "run2",
                      save_models=tmp_path / "blocked")
    assert not (tmp_path / "run2").exists()  # refused before the run started

    def full_disk(model, folder):
        raise OSError(28, "No space left on device", str(folder))

    monkeypatch.setattr(job, "save_to", full_disk)  # a save that fails during the run
    failed = run_benchmark(["tree"], dataset="digits", out=tmp_path / "run3",
                           save_models=tmp_path / "models")
    assert failed.loc[0, "status"] == "ok"
    assert failed.loc[0, "accuracy"] == summary.loc[0, "accuracy"]
    assert failed.loc[0, "error"].startswith("model not saved:")


@pytest.mark.parametrize("host, seconds_ago, refused", [
    ("elsewhere", 5, True),  # another host's run with a fresh heartbeat: alive
    ("elsewhere", 600, False),
    ("here", 5, False),  # on this host the lock decides: nobody holds it, so it is dead
])
def test_dead_and_live_runs_are_told_apart(tmp_path, host, seconds_ago, refused):
    import datetime
    import socket

    run_benchmark(["tree"], dataset="digits", out=tmp_path)
    info = json.loads((tmp_path / "run.json").read_text())
    beat = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds_ago)
    host = socket.gethostname() if host == "here" else host
    info.update(status="running", host=host, pid=1, heartbeat=beat.isoformat())
    (tmp_path / "run.json").write_text(json.dumps(info))
    if refused:
        assert load_run(tmp_path).state.startswith(f"running as process 1 on {host}")
        with pytest.raises(ParameterError, match="being written by another mnistbench process"):
            resume_benchmark(tmp_path)
    else:
        assert load_run(tmp_path).state.startswith(f"dead: its process 1 on {host} stopped")
        assert resume_benchmark(tmp_path)["status"].tolist() == ["ok"]


@pytest.fixture(scope="module")
def knn_and_tree(tmp_path_factory):
    """A finished digits run of knn and tree, for the tests that damage a copy of it."""
    out = tmp_path_factory.mktemp("knn-and-tree")
    run_benchmark(["knn", "tree"], dataset="digits", out=out)
    return out


@pytest.mark.parametrize("damage, reason", [
    (lambda folder: (folder / "probabilities.npz").write_bytes(
        (folder / "probabilities.npz").read_bytes()[:100]),
     "probabilities.npz does not match its checksum"),
    (lambda folder: (folder / "job.json").write_text("{"), "job.json does not match its checksum"),
    (lambda folder: (folder / "checksums.json").unlink(), "no checksums.json"),
])
def test_a_damaged_job_runs_again_on_resume_and_readers_leave_it_out(tmp_path, damage, reason,
                                                                     knn_and_tree, capsys):
    from mnistbench.cli import main
    from mnistbench.run.loading import DamagedJob

    shutil.copytree(knn_and_tree, tmp_path, dirs_exist_ok=True)
    before = job_folders(tmp_path)
    knn, tree = sorted(before)
    damage(tmp_path / "jobs" / knn)
    with pytest.warns(DamagedJob, match=rf"\[{knn}\] damaged \({reason}\); it is left out"):
        run = load_run(tmp_path)
    assert run.job_ids == [tree] and run.summary["job_id"].tolist() == [tree]
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert f"[{knn}] damaged ({reason}); it is left out" in err and "Traceback" not in err
    lines = []
    summary = resume_benchmark(tmp_path, progress=lines.append)
    assert f"[{knn}] damaged ({reason}); it runs again" in lines
    assert sorted(summary["job_id"]) == [knn, tree] and (summary["status"] == "ok").all()
    after = job_folders(tmp_path)
    assert after[tree] == before[tree] and after[knn] != before[knn]
    assert sorted(load_run(tmp_path).job_ids) == [knn, tree]
