"""Per-image answers in Parquet: the same table as the CSV files of earlier runs, old runs still
load, and compaction of an old run in place (mnistbench.run.compact) is lossless."""

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mnistbench import load_run
from mnistbench.analysis.metrics import condition_tables
from mnistbench.errors import DataError
from mnistbench.run import store
from mnistbench.run.compact import compact_run, main
from mnistbench.run.integrity import CHECKSUMS_FILE, damage
from mnistbench.run.perimage import (OLD_PREDICTIONS_FILE, PREDICTIONS_FILE, decimal_values,
                                     predictions_bytes, read_predictions)
from mnistbench.run.runner import run_benchmark

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def probabilities_of(kind, rows, rng):
    """Class probabilities as the adapters give them: float32 softmax outputs, 0/1 (1-NN, a
    full tree), votes among 10 neighbours, thirds (3 neighbours), graded float64 (Platt)."""
    if kind == "softmax":
        logits = rng.normal(scale=4, size=(rows, 10)).astype(np.float32)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
    if kind == "graded":
        weights = rng.random((rows, 10))
        return weights / weights.sum(axis=1, keepdims=True)
    k = {"one-hot": 1, "tenths": 10, "thirds": 3}[kind]
    votes = rng.integers(0, 10, size=(rows, k))
    return np.stack([np.bincount(row, minlength=10) for row in votes]) / k


@pytest.mark.parametrize("kind, stored", [("softmax", False), ("one-hot", False),
                                          ("tenths", False), ("thirds", True),
                                          ("graded", True)])
def test_answers_read_back_as_their_csv_file_did(tmp_path, kind, stored):
    rng = np.random.default_rng(0)
    outputs = {}
    for condition, rows in (("test", 300), ("holdout", 120)):
        probabilities = probabilities_of(kind, rows, rng)
        outputs[condition] = (rng.integers(0, 10, rows), probabilities.argmax(axis=1),
                              probabilities)
    table = condition_tables(outputs, np.arange(10))[1]["predictions"].assign(job_id="job")
    table = table[["job_id", *table.columns[:-1]]]
    np.savez_compressed(tmp_path / "probabilities.npz", **{
        condition: probabilities.astype(np.float32)
        for condition, (_, _, probabilities) in outputs.items()})
    (tmp_path / PREDICTIONS_FILE).write_bytes(predictions_bytes(table, {
        condition: probabilities.astype(np.float32)
        for condition, (_, _, probabilities) in outputs.items()}))

    as_before = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    pd.testing.assert_frame_equal(read_predictions(tmp_path), as_before)
    # a confidence is left out only where the float32 probabilities give it back exactly
    assert ("confidence" in pq.read_schema(tmp_path / PREDICTIONS_FILE).names) == stored


def test_decimal_values_keep_order_and_ties():
    values = np.float32([0.1, 0.99998199939, 0.999982, 1.0, 0.1, 1e-9])
    decimals = decimal_values(values)
    assert decimals.dtype == np.float64 and decimals[0] == 0.1 and decimals[5] == 1e-9
    np.testing.assert_array_equal(np.argsort(decimals, kind="stable"),
                                  np.argsort(values, kind="stable"))
    assert len(np.unique(decimals)) == len(np.unique(values))


def written_by_the_previous_version(monkeypatch, directory, **options):
    """The run of ``options`` as the version before Parquet wrote it: each job's answers in
    ``predictions.csv``, a run-level copy, format 2."""
    with monkeypatch.context() as patched:
        patched.setattr(store, "PREDICTIONS_FILE", OLD_PREDICTIONS_FILE)
        patched.setattr(store, "predictions_bytes",
                        lambda table, probabilities: table.to_csv(index=False))
        run_benchmark(out=directory, **options)
    load_run(directory).predictions.to_csv(directory / OLD_PREDICTIONS_FILE, index=False)
    info = json.loads((directory / "run.json").read_text())
    (directory / "run.json").write_text(json.dumps({**info, "version": 2}))


def test_old_and_new_runs_of_the_same_jobs_load_alike_and_compact(tmp_path, monkeypatch):
    options = {"algos": ["knn", "forest"], "dataset": "digits", "seed": 1,
               "params": {"knn": {"k": 3}, "forest": {"n_estimators": 7}},
               "shifts": "rot180"}
    new, old = tmp_path / "new", tmp_path / "old"
    run_benchmark(out=new, **options)
    written_by_the_previous_version(monkeypatch, old, **options)
    expected = load_run(new).predictions
    assert set(expected["condition"]) == {"test", "rot180"} and len(expected) == 2 * 2 * 360
    assert not list(new.glob("**/predictions.csv"))
    assert sorted(path.name for path in old.glob("jobs/*/predictions.*")) == [
        OLD_PREDICTIONS_FILE] * 2
    pd.testing.assert_frame_equal(load_run(old).predictions, expected)

    assert main([str(old)]) == 0
    assert not list(old.glob("**/predictions.csv"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no job left damaged
        run = load_run(old)
    pd.testing.assert_frame_equal(run.predictions, expected)
    assert run.info["version"] == 3
    for folder in old.glob("jobs/*"):
        assert damage(folder) is None
        assert PREDICTIONS_FILE in json.loads((folder / CHECKSUMS_FILE).read_text())
    assert compact_run(old) == []  # a compact run is left as it is


def test_compaction_refused_changes_nothing(tmp_path, monkeypatch):
    written_by_the_previous_version(monkeypatch, tmp_path, algos=["tree"], dataset="digits")
    run_level = pd.read_csv(tmp_path / OLD_PREDICTIONS_FILE)
    run_level.iloc[:5].to_csv(tmp_path / OLD_PREDICTIONS_FILE, index=False)
    with pytest.raises(DataError, match="holds rows its job folders do not; the run is left"):
        compact_run(tmp_path)
    assert (tmp_path / OLD_PREDICTIONS_FILE).is_file()
    assert [path.name for path in tmp_path.glob("jobs/*/predictions.*")] == [
        OLD_PREDICTIONS_FILE]
    (next(tmp_path.glob("jobs/*")) / "probabilities.npz").write_bytes(b"")
    with pytest.raises(DataError, match=r"damaged jobs \(tree-"):
        compact_run(tmp_path)
    assert main([str(tmp_path / "nowhere")]) == 1


@pytest.mark.parametrize("directory", sorted(REFERENCE.iterdir()) if REFERENCE.is_dir() else [],
                         ids=lambda path: path.name)
def test_reference_runs_load_with_their_answers(directory):
    info = json.loads((directory / "run.json").read_text())
    if "format" not in info:  # from before job folders: its CSV files are the whole record
        with pytest.raises(DataError, match="from before job folders"):
            load_run(directory)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = load_run(directory)
    answers = run.predictions
    assert answers.columns.tolist() == ["job_id", "condition", "index", "true", "predicted",
                                        "confidence"]
    if (directory / OLD_PREDICTIONS_FILE).is_file():  # until the run is compacted
        pd.testing.assert_frame_equal(answers, pd.read_csv(directory / OLD_PREDICTIONS_FILE))
    for job_id, record in zip(run.summary["job_id"], run.summary.to_dict("records")):
        rows = answers[(answers["job_id"] == job_id) & (answers["condition"] == "test")]
        if record["status"] != "ok":
            assert rows.empty
            continue
        assert (rows["true"] == rows["predicted"]).mean() == pytest.approx(record["accuracy"])
        np.testing.assert_allclose(rows["confidence"],
                                   run.probabilities(job_id).max(axis=1)[rows["index"]],
                                   rtol=1e-6)
