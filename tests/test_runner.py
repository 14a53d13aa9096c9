import json

import pandas as pd
import pytest

from mnistbench import registry
from mnistbench.errors import ParameterError
from mnistbench.runner import make_jobs, run_benchmark

FILES = {"summary.csv", "per_class.csv", "confusion.csv", "predictions.csv", "sweep.csv",
         "run.json"}


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setitem(registry.ALGORITHMS, "boom", "fake_algorithms:Boom")
    monkeypatch.setitem(registry.ALGORITHMS, "ctrl-c", "fake_algorithms:CtrlC")


def test_run_writes_tidy_files(tmp_path, digits):
    summary = run_benchmark(["knn", "tree"], dataset="digits", seed=3, out=tmp_path,
                            params={"knn": {"k": (1, 3)}})
    assert FILES <= {p.name for p in tmp_path.iterdir()}
    assert summary["algorithm"].tolist() == ["knn", "tree"]
    assert (summary["status"] == "ok").all() and (summary["accuracy"] > 0.7).all()
    assert summary["latency_calls"].min() >= 100
    assert json.loads(summary.loc[1, "params"]) == {}
    on_disk = pd.read_csv(tmp_path / "summary.csv")
    assert on_disk["accuracy"].tolist() == pytest.approx(summary["accuracy"].tolist())
    confusion = pd.read_csv(tmp_path / "confusion.csv")
    assert len(confusion) == 2 * 100 and confusion.groupby("job")["count"].sum().tolist() == [
        360, 360]
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    knn_rows = predictions[predictions["job"] == 1]
    assert (knn_rows["true"] == knn_rows["predicted"]).mean() == pytest.approx(
        summary.loc[0, "accuracy"])
    per_class = pd.read_csv(tmp_path / "per_class.csv")
    assert per_class.groupby("job")["support"].sum().tolist() == [360, 360]
    assert pd.read_csv(tmp_path / "sweep.csv")["k"].tolist() == [1, 3]
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "complete" and info["jobs_done"] == 2
    assert info["dataset_checksum"] == digits.checksum and info["seed"] == 3
    assert {"numpy", "scikit-learn"} <= set(info["versions"])


def test_tree_is_seeded_by_the_run(tmp_path):
    seeds = [run_benchmark(["tree"], dataset="digits", seed=seed, out=tmp_path / str(run))
             for run, seed in enumerate((1, 1, 2))]
    assert seeds[0]["chosen"][0] == seeds[1]["chosen"][0]
    assert seeds[0]["accuracy"][0] == seeds[1]["accuracy"][0]


def test_a_failing_job_is_a_row_not_a_crash(tmp_path, fakes):
    summary = run_benchmark(["boom", "knn"], dataset="digits", out=tmp_path)
    assert summary["status"].tolist() == ["error", "ok"]
    assert summary.loc[0, "error"] == "RuntimeError: the model exploded"
    assert pd.read_csv(tmp_path / "summary.csv")["status"].tolist() == ["error", "ok"]


def test_interrupt_keeps_finished_jobs(tmp_path, fakes):
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(["knn", "ctrl-c", "tree"], dataset="digits", out=tmp_path)
    assert pd.read_csv(tmp_path / "summary.csv")["algorithm"].tolist() == ["knn"]
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "interrupted" and info["jobs_done"] == 1


@pytest.mark.parametrize("algos, params, message", [
    (["knn", "svm"], {}, "unknown algorithm 'svm'; choose from: knn, tree"),
    (["knn"], {"knn": {"neighbours": 3}}, "unknown parameter neighbours for 'knn'"),
    (["knn"], {"knn": {"k": -3}}, "k must be an integer >= 1"),
    (["knn"], {"tree": {"max_depth": 3}}, "'tree', which is not among the algorithms"),
    (["tree"], {"tree": {"criterion": "best"}}, "criterion must be one of gini"),
])
def test_bad_specs_fail_before_anything_runs(algos, params, message):
    with pytest.raises(ParameterError, match=message):
        make_jobs(algos, "digits", params=params)


def test_all_expands_to_every_registered_algorithm():
    assert [job.algorithm for job in make_jobs("all", "digits")] == registry.algorithm_names()


def test_an_existing_run_is_never_mixed_with_a_new_one(tmp_path):
    run_benchmark(["tree"], dataset="digits", out=tmp_path)
    with pytest.raises(ParameterError, match="already holds a run"):
        run_benchmark(["tree"], dataset="digits", out=tmp_path)
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 1


def test_save_models_keeps_loadable_models_and_a_failed_save_keeps_results(tmp_path):
    from mnistbench import load_model

    summary = run_benchmark(["tree"], dataset="digits", out=tmp_path / "run",
                            save_models=tmp_path / "models")
    loaded = load_model(tmp_path / "models" / "01-tree")
    assert loaded.get_params()["random_state"] == 0
    (tmp_path / "blocked").write_text("a file where the models folder should be")
    failed = run_benchmark(["tree"], dataset="digits", out=tmp_path / "run2",
                           save_models=tmp_path / "blocked")
    assert failed.loc[0, "status"] == "ok"
    assert failed.loc[0, "accuracy"] == summary.loc[0, "accuracy"]
    assert failed.loc[0, "error"].startswith("model not saved:")
