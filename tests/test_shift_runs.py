"""Runs with shifted test sets, MNIST-C and selective prediction, end to end."""

import json

import numpy as np
import pandas as pd
import pytest

from mnistbench import load_run, resume_benchmark, run_benchmark
from mnistbench.cli import main
from mnistbench.datasets import mnist_c
from mnistbench.datasets.transforms import apply_transform
from mnistbench.errors import DataError, ParameterError
from mnistbench.run.conditions import parse_shifts


def write_corruption(root, name, images, labels):
    folder = root / "mnist_c" / name
    folder.mkdir(parents=True)
    np.save(folder / "test_images.npy", images)
    np.save(folder / "test_labels.npy", labels)
    return folder


@pytest.fixture(scope="module")
def shifted_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "shifted"
    run_benchmark(["knn", "tree"], dataset="digits", out=out, shifts="rot180,invert,mixed-rot180",
                  target_accuracy=0.99)
    return load_run(out)


def test_every_job_is_evaluated_under_every_condition(shifted_run, digits):
    run = shifted_run
    conditions = ["test", "holdout", "rot180", "invert", "mixed-rot180"]
    assert list(dict.fromkeys(run.predictions["condition"])) == conditions
    assert list(dict.fromkeys(run.shifts["condition"])) == ["test", "rot180", "invert",
                                                            "mixed-rot180"]
    assert len(run.shifts) == 2 * 4 and len(run.selective) == 2 * 5
    for job_id in run.job_ids:
        rotated = run.probabilities(job_id, "rot180")
        mixed = run.probabilities(job_id, "mixed-rot180")
        assert rotated.shape == (360, 10) and mixed.shape == (720, 10)
        # the mixed set is the clean one and the rotated one, image for image
        np.testing.assert_allclose(mixed, np.concatenate([run.probabilities(job_id), rotated]),
                                   atol=1e-6)
        shifts = run.shifts[run.shifts["job_id"] == job_id].set_index("condition")
        clean = shifts.loc["test", "accuracy"]
        assert shifts["drop"].to_dict() == pytest.approx(
            {name: clean - accuracy for name, accuracy in shifts["accuracy"].items()})
        assert shifts.loc["mixed-rot180", "accuracy"] == pytest.approx(
            (clean + shifts.loc["rot180", "accuracy"]) / 2)
        assert (shifts["ci_low"] <= shifts["accuracy"]).all()
        assert (shifts["accuracy"] <= shifts["ci_high"]).all()
        predictions = run.predictions[(run.predictions["job_id"] == job_id)
                                      & (run.predictions["condition"] == "rot180")]
        assert shifts.loc["rot180", "accuracy"] == pytest.approx(
            (predictions["true"] == predictions["predicted"]).mean())


def test_the_shifted_images_are_the_same_for_every_job(shifted_run, digits):
    """KNN with k=1 on rotated digits equals a KNN fitted by hand and asked the rotated set."""
    from mnistbench.classifiers.knn import KNN

    knn_id = next(j for j in shifted_run.job_ids if j.startswith("knn"))
    job = json.loads((shifted_run.directory / "jobs" / knn_id / "job.json").read_text())
    k = job["summary"]["chosen"]
    X_fit, y_fit, _, _ = digits.validation_split()
    model = KNN(k=json.loads(k)["k"]).fit(X_fit, y_fit)
    expected = model.predict_proba(apply_transform("rot180", digits.X_test))
    np.testing.assert_allclose(shifted_run.probabilities(knn_id, "rot180"), expected, atol=1e-6)


def test_the_threshold_is_chosen_on_the_holdout_left_out_of_the_fit(shifted_run, digits):
    run = shifted_run
    assert (run.summary["n_train"] == 1437 - 144).all()
    for job_id in run.job_ids:
        rows = run.selective[run.selective["job_id"] == job_id].set_index("condition")
        assert rows["threshold"].nunique() == 1 and (rows["target_accuracy"] == 0.99).all()
        holdout = run.predictions[(run.predictions["job_id"] == job_id)
                                  & (run.predictions["condition"] == "holdout")]
        assert len(holdout) == 144
        threshold = rows["threshold"].iloc[0]
        answered = holdout[holdout["confidence"] >= threshold]
        assert rows.loc["holdout", "coverage"] == pytest.approx(len(answered) / 144)
        if len(answered):
            assert (answered["true"] == answered["predicted"]).mean() >= 0.99
        test = run.predictions[(run.predictions["job_id"] == job_id)
                               & (run.predictions["condition"] == "test")]
        assert rows.loc["test", "coverage"] == pytest.approx(
            (test["confidence"] >= threshold).mean())
        assert rows["aurc"].between(0, 1).all() and (rows["e_aurc"] >= -1e-12).all()


def test_the_report_shows_shifts_and_risk_coverage(shifted_run):
    from mnistbench.report.page import write_report

    page = write_report(shifted_run.directory).read_text()
    figures = shifted_run.directory / "figures"
    for name in ("shift-examples", "shifts", "risk-coverage"):
        assert (figures / f"{name}.png").stat().st_size > 5000
    assert "Robustness: shifted test sets" in page and "Selective prediction" in page
    assert "answered % / accuracy %" in page


def test_resume_keeps_the_conditions_and_refuses_new_ones(shifted_run, tmp_path):
    with pytest.raises(ParameterError, match="evaluated with conditions"):
        resume_benchmark(shifted_run.directory, shifts="blur")
    with pytest.raises(ParameterError, match="evaluated with target accuracy"):
        resume_benchmark(shifted_run.directory, target_accuracy=0.9)
    summary = resume_benchmark(shifted_run.directory, algos="tree", repeats=2)
    run = load_run(shifted_run.directory)
    assert len(summary) == 4 and set(run.selective["condition"]) == {
        "test", "holdout", "rot180", "invert", "mixed-rot180"}


def test_parse_shifts_names_and_errors(tmp_path):
    assert len(parse_shifts("all")) == 16
    assert parse_shifts("rot180, mixed-blur ,rot180") == ["rot180", "mixed-blur"]
    with pytest.raises(ParameterError, match="unknown shift 'rot18'"):
        parse_shifts("rot18")
    with pytest.raises(ParameterError, match="unknown shift 'mixed-x'"):
        parse_shifts("mixed-x")
    with pytest.raises(ParameterError, match="apply to the mnist dataset, not digits"):
        parse_shifts("mnist-c", "digits", tmp_path)
    with pytest.raises(DataError, match="need --data-dir"):
        parse_shifts("mnist-c")
    with pytest.raises(DataError, match="no MNIST-C corruption folders"):
        parse_shifts("mnist-c", "mnist", tmp_path)


def test_mnist_c_reader_follows_the_published_layout(tmp_path, mnist):
    images = apply_transform("rot30", mnist.X_test[:20])[..., None]  # N x 28 x 28 x 1
    write_corruption(tmp_path, "rotate", images, mnist.y_test[:20].astype(np.uint8))
    write_corruption(tmp_path, "fog", images[:5], mnist.y_test[:5])
    assert parse_shifts("mnist-c", "mnist", tmp_path) == ["mnist-c/rotate", "mnist-c/fog"]
    # the data folder itself may be mnist_c/
    assert parse_shifts("mnist-c/fog", "mnist", tmp_path / "mnist_c") == ["mnist-c/fog"]
    read, labels = mnist_c.load_corruption("rotate", tmp_path)
    np.testing.assert_array_equal(read, images[..., 0])
    assert labels.dtype == np.int64 and (labels == mnist.y_test[:20]).all()
    with pytest.raises(ParameterError, match="unknown MNIST-C corruption 'fig'"):
        parse_shifts("mnist-c/fig", "mnist", tmp_path)
    with pytest.raises(DataError, match="stripe/test_images.npy does not exist"):
        parse_shifts("mnist-c/stripe", "mnist", tmp_path)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((4, 28, 28, 3), np.uint8), np.zeros(4, np.uint8), "shape"),
    (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.uint8), "float32 pixels"),
    (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), "must hold 4 integer labels"),
    (np.zeros((4, 28, 28), np.uint8), np.full(4, 12), "labels outside 0-9"),
])
def test_malformed_mnist_c_files_give_one_sentence(tmp_path, images, labels, message):
    write_corruption(tmp_path, "zigzag", images, labels)
    with pytest.raises(DataError, match=message):
        mnist_c.load_corruption("zigzag", tmp_path)


def test_a_corrupt_npy_file_is_a_data_error(tmp_path):
    folder = write_corruption(tmp_path, "zigzag", np.zeros((2, 28, 28), np.uint8),
                              np.zeros(2, np.uint8))
    (folder / "test_images.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="is not a readable .npy array"):
        mnist_c.load_corruption("zigzag", tmp_path)


def test_cli_runs_an_mnist_c_condition(tmp_path, mnist, capsys):
    write_corruption(tmp_path, "rotate", apply_transform("rot180", mnist.X_test)[..., None],
                     mnist.y_test.astype(np.uint8))
    out = tmp_path / "run"
    code = main(["--algos", "tree", "--set", "tree.max_depth=3", "--shifts", "mnist-c,rot180",
                 "--data-dir", str(tmp_path), "--out", str(out), "--no-report"])
    assert code == 0
    shifts = pd.read_csv(out / "shifts.csv").set_index("condition")
    # the "corruption" written here is rot180, so both conditions score the same
    assert shifts.loc["mnist-c/rotate", "accuracy"] == shifts.loc["rot180", "accuracy"]
    assert "mnist-c/rotate" in capsys.readouterr().out  # the shift table is printed


@pytest.mark.parametrize("argv, message", [
    (["--shifts", "spin"], "unknown shift 'spin'"),
    (["--target-accuracy", "1.5"], "target accuracy must be a number between 0 and 1"),
    (["--set", "knn.augment=rot181"], "unknown augmentation 'rot181'"),
    (["--shifts", "mnist-c"], "MNIST-C conditions apply to the mnist dataset"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    code = main(["--algos", "knn", "--dataset", "digits", "--out", str(tmp_path / "r"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
