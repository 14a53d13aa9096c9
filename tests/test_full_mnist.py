"""Acceptance on the full MNIST (slow: about 5 minutes; run with ``python -m pytest -m slow``)."""

import pytest

from mnistbench.run.runner import run_benchmark

pytestmark = pytest.mark.slow

# the lowest test accuracy each default adapter must reach (issues' "done when" thresholds)
MINIMUM = {"knn": 0.969, "tree": 0.865, "mlp": 0.975, "tf-softmax": 0.915, "tf-mlp": 0.973,
           "cnn": 0.992}


def test_every_default_reaches_its_reference(tmp_path):
    summary = run_benchmark("all", dataset="mnist", out=tmp_path).set_index("algorithm")
    assert (summary["status"] == "ok").all(), summary["error"].dropna().to_dict()
    for name, minimum in MINIMUM.items():
        assert summary.loc[name, "accuracy"] >= minimum, name


def test_classic_softmax_reproduces_the_write_up(tmp_path):
    summary = run_benchmark(["tf-softmax"], dataset="mnist", out=tmp_path,
                            params={"tf-softmax": {"preset": "classic"}})
    assert summary.loc[0, "accuracy"] == pytest.approx(0.917, abs=0.005)
