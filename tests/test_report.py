"""Statistics checked against hand-computed cases; the report built from a run's files and
opened in a real browser; the report, compare and list sub-commands (run in this process)."""

import contextlib
import io
import json
import os
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from browser import chromium, open_report
from mnistbench.analysis.statistics import (holm, mcnemar_exact, pairwise_mcnemar,
                                            seed_interval, wilson_interval)
from mnistbench.classifiers import registry
from mnistbench.cli import main
from mnistbench.report.page import write_report
from mnistbench.run.integrity import CHECKSUMS_FILE, checksums_text
from mnistbench.run.perimage import (PREDICTIONS_FILE, predictions_bytes, read_predictions,
                                     read_probabilities)
from mnistbench.run.runner import run_benchmark


def test_wilson_interval_by_hand():
    # 8 of 10, z = 1.959964: centre (0.8 + z²/20) / (1 + z²/10) = 0.992073 / 1.384146 = 0.716740,
    # half-width z √(0.8·0.2/10 + z²/400) / (1 + z²/10) = 0.313612 / 1.384146 = 0.226578
    assert wilson_interval(8, 10) == pytest.approx((0.490162, 0.943318), abs=2e-6)
    assert wilson_interval(10, 10)[1] == 1.0


def test_exact_mcnemar_by_hand():
    a = np.array([True] * 3 + [False] * 12 + [True] * 50 + [False] * 5)
    b = np.array([False] * 3 + [True] * 12 + [True] * 50 + [False] * 5)
    # 3 against 12 discordant: 2 · P(X ≤ 3), X ~ B(15, ½) = 2 · (1 + 15 + 105 + 455) / 2^15
    assert mcnemar_exact(a, b) == {"a_only": 3, "b_only": 12, "p_value": 1152 / 32768}
    assert mcnemar_exact(a, a)["p_value"] == 1.0


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running maximum 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])


def test_seed_interval_by_hand():
    # mean 2, sd 1, t(0.975, 2) = 4.302653 → half-width 4.302653 / √3 = 2.484138
    assert seed_interval([1, 2, 3]) == pytest.approx((2, 1, 2.484138))
    mean, sd, half = seed_interval([0.5])
    assert mean == 0.5 and np.isnan(sd) and np.isnan(half)


def fake_run(correct):
    """summary and predictions of configurations whose per-image correctness is ``correct``:
    ``{(configuration, seed): bool array}``."""
    summary, predictions = [], []
    for number, ((label, seed), right) in enumerate(correct.items()):
        job_id = f"{label}-{number}"
        summary.append({"job_id": job_id, "algorithm": label, "params": "{}", "seed": seed,
                        "status": "ok", "accuracy": right.mean(), "n_test": len(right)})
        predictions.append(pd.DataFrame({"job_id": job_id, "condition": "test",
                                         "index": np.arange(len(right)), "true": 1,
                                         "predicted": np.where(right, 1, 0)}))
    return pd.DataFrame(summary), pd.concat(predictions)


def test_pairs_combine_seeds_only_when_they_agree():
    strong, weak = np.arange(200) < 190, np.arange(200) < 150
    summary, predictions = fake_run({("good", 0): strong, ("good", 1): strong,
                                     ("bad", 0): weak, ("bad", 1): weak,
                                     ("mixed", 0): strong, ("mixed", 1): weak})
    pairs, by_seed = pairwise_mcnemar(summary, predictions)
    assert len(pairs) == 3 and len(by_seed) == 6
    pairs = pairs.set_index(["a", "b"])
    assert pairs.loc[("good", "bad"), "better"] == "good"
    assert pairs.loc[("good", "bad"), "significant"]
    assert (pairs.loc[("good", "bad"), ["a_only", "b_only"]] == [80, 0]).all()
    # seed 0 ties, seed 1 favours good: no verdict in a single direction for every seed
    assert pairs.loc[("good", "mixed"), "better"] == ""
    assert not pairs.loc[("good", "mixed"), "significant"]
    assert pairs.loc[("good", "mixed"), "p_value"] == 1.0  # the larger of the seeds'


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory):
    """``(folder, exit code, standard output)``: knn, tree and mlp on the digits with two seeds,
    and an algorithm that always fails, whose report ``mnistbench report FOLDER`` wrote (in this
    process: the report is the costly part, written once for the module's tests)."""
    registry.ALGORITHMS["boom"] = "fake_algorithms:Boom"
    try:
        out = tmp_path_factory.mktemp("run")
        run_benchmark(["knn", "tree", "mlp", "boom"], dataset="digits", out=out, repeats=2,
                      params={"mlp": {"epochs": 5}})
    finally:
        del registry.ALGORITHMS["boom"]
    printed, shown = io.StringIO(), warnings.showwarning
    try:
        with contextlib.redirect_stdout(printed):
            code = main(["report", str(out)])
    finally:
        warnings.showwarning = shown  # the command sets its own warning display
    return out, code, printed.getvalue()


@pytest.fixture(scope="module")
def digits_run(reported_run):
    return reported_run[0]


def test_report_holds_every_section_and_the_failed_jobs(digits_run):
    page = (digits_run / "report.html").read_text()
    for heading in ("Summary", "Significance", "Sample images", "Accuracy against speed",
                    "Per-class F1", "Selective prediction: answering only when confident",
                    "Confusion matrices", "Most confident mistakes",
                    "Hard examples", "KNN: choosing k", "Training curves", "Jobs"):
        assert f"<h2>{heading}</h2>" in page
    assert "src=\"figures/" not in page and page.count("data:image/png;base64,") == 13
    assert "failed: RuntimeError: the model exploded" in page
    markdown = (digits_run / "report.md").read_text()
    linked = [line[line.index("(") + 1:-1] for line in markdown.splitlines()
              if line.startswith("![")]
    assert len(linked) == 13 and all((digits_run / path).is_file() for path in linked)
    pairs = pd.read_csv(digits_run / "pairs.csv")
    assert len(pairs) == 3 and set(pairs.columns) >= {"a", "b", "a_only", "b_only", "p_value",
                                                      "p_adjusted", "better", "significant"}
    assert len(pd.read_csv(digits_run / "pairs_by_seed.csv")) == 6
    configurations = pd.read_csv(digits_run / "configurations.csv").set_index("configuration")
    assert configurations.loc["tree", "seeds"] == 2 and configurations.loc["boom", "failed"] == 2
    assert {"accuracy_sd", "accuracy_half", "fit_s_sd", "latency_p50_ms_half"} <= set(
        configurations.columns)


def test_a_run_of_failed_jobs_or_other_data_still_gets_its_report(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.ALGORITHMS, "boom", "fake_algorithms:Boom")
    run_benchmark(["boom"], dataset="digits", out=tmp_path)
    info = json.loads((tmp_path / "run.json").read_text())
    info["dataset_checksum"] = "0" * 32  # as if the data had changed since
    (tmp_path / "run.json").write_text(json.dumps(info))
    page = write_report(tmp_path).read_text()
    assert "failed: RuntimeError: the model exploded" in page
    assert "image plots are left out" not in page and "are left out: the digits data found" in page
    assert "nothing to compare" in page and "data:image/png" not in page


@pytest.mark.browser
def test_report_opens_in_a_real_browser(digits_run, tmp_path):
    if chromium() is None:
        if os.environ.get("MNISTBENCH_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    images, broken, errors = open_report(digits_run / "report.html", tmp_path / "page.png")
    assert images == 13 and broken == [] and errors == []
    assert (tmp_path / "page.png").stat().st_size > 100_000


def test_report_and_compare_commands(reported_run, tmp_path, cli):
    digits_run, code, printed = reported_run
    assert code == 0 and printed.strip().endswith("report.html")
    same = cli("compare", str(digits_run), str(digits_run), "--fail-if-worse")
    assert same.returncode == 0, same.stderr
    assert "no significant change" in same.stdout and "| boom" in same.stdout
    # a copy of the run in which the tree got 60 more test images wrong in both seeds
    worse = tmp_path / "worse"
    shutil.copytree(digits_run, worse)
    for job in worse.glob("jobs/tree-*"):
        predictions = read_predictions(job)
        predictions.loc[:59, "predicted"] = (predictions.loc[:59, "true"] + 1) % 10
        (job / PREDICTIONS_FILE).write_bytes(predictions_bytes(predictions,
                                                               read_probabilities(job)))
        record = json.loads((job / "job.json").read_text())
        record["summary"]["accuracy"] = float((predictions["true"] == predictions[
            "predicted"]).mean())
        (job / "job.json").write_text(json.dumps(record))
        (job / CHECKSUMS_FILE).unlink()  # sealed again: a run that got these answers
        (job / CHECKSUMS_FILE).write_text(checksums_text(job))
    result = cli("compare", str(digits_run), str(worse))
    assert result.returncode == 0
    tree = next(line for line in result.stdout.splitlines() if line.startswith("| tree"))
    assert "worse" in tree and "significantly worse in" in result.stderr
    assert cli("compare", str(digits_run), str(worse), "--fail-if-worse").returncode == 1


@pytest.mark.parametrize("args, message", [
    (["report", "{tmp}/nowhere"], "is not a folder holding an mnistbench run"),
    (["compare", "{tmp}", "{tmp}"], "holds no mnistbench run"),
    (["report"], "the following arguments are required: RUN_DIR"),
])
def test_bad_sub_command_input_is_one_line_and_exit_2(args, message, tmp_path, cli):
    result = cli(*[arg.format(tmp=tmp_path) for arg in args])
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_list_sub_command_and_the_run_writes_its_report(tmp_path, cli):
    assert cli("list").stdout == cli("--list").stdout != ""
    result = cli("run", "--algos", "tree", "--dataset", "digits", "--out", str(tmp_path / "run"))
    assert result.returncode == 0 and (tmp_path / "run" / "report.html").is_file()
    assert f"report: {tmp_path / 'run' / 'report.html'}" in result.stderr
    result = cli("--algos", "tree", "--dataset", "digits", "--no-report", "--out",
                 str(tmp_path / "plain"))
    assert result.returncode == 0 and not (tmp_path / "plain" / "report.html").exists()
