"""Acceptance on the full MNIST (slow: about 11 minutes; run with ``python -m pytest -m slow``)."""

import pandas as pd
import pytest

from mnistbench.run.runner import run_benchmark

pytestmark = pytest.mark.slow

# the lowest test accuracy each default adapter must reach (issues' "done when" thresholds)
MINIMUM = {"knn": 0.969, "tree": 0.865, "mlp": 0.975, "tf-softmax": 0.915, "tf-mlp": 0.973,
           "cnn": 0.992, "linear": 0.915, "svm": 0.98, "forest": 0.965, "boosting": 0.975,
           "ensemble": 0.98}
# judged on the mean of three seeds: one seed of the mlp ranges 97.3-97.9% (README)
SEEDED = ("mlp",)


def test_every_default_reaches_its_reference(tmp_path):
    summary = run_benchmark("all", dataset="mnist", out=tmp_path)
    more = run_benchmark(list(SEEDED), dataset="mnist", seed=1, repeats=2, out=tmp_path / "more")
    summary = pd.concat([summary, more])
    assert (summary["status"] == "ok").all(), summary["error"].dropna().to_dict()
    accuracy = summary.groupby("algorithm")["accuracy"].mean()
    assert summary.groupby("algorithm").size().to_dict() == {
        name: 3 if name in SEEDED else 1 for name in MINIMUM}
    for name, minimum in MINIMUM.items():
        assert accuracy[name] >= minimum, name


def test_classic_softmax_reproduces_the_write_up(tmp_path):
    """91.7% upright, 19.5% on digits rotated by 180 degrees; trained on both, >= 78% on both
    together (issue 10's "done when")."""
    summary = run_benchmark(["tf-softmax"], dataset="mnist", out=tmp_path,
                            params={"tf-softmax": {"preset": "classic"}},
                            grid={"tf-softmax": {"augment": ["none", "rot180"]}},
                            shifts="rot180,mixed-rot180")
    shifts = pd.read_csv(tmp_path / "shifts.csv").merge(summary[["job_id", "augment"]])
    accuracy = shifts.set_index(["augment", "condition"])["accuracy"]
    assert accuracy["none", "test"] == pytest.approx(0.917, abs=0.005)
    assert 0.12 <= accuracy["none", "rot180"] <= 0.30
    assert accuracy["rot180", "mixed-rot180"] >= 0.78


def test_boosted_stumps_run(tmp_path):
    summary = run_benchmark(["boosting"], dataset="mnist", out=tmp_path,
                            params={"boosting": {"preset": "stumps"}})
    assert summary.loc[0, "status"] == "ok" and summary.loc[0, "accuracy"] > 0.5
