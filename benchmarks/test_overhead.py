"""The tool's own overhead: start-up of the CLI, and the cost of measuring latency."""

import subprocess
import sys

import numpy as np

from mnistbench.classifiers.registry import get_classifier
from mnistbench.run.timing import single_image_latencies


def test_cli_help_start_up(benchmark):
    benchmark.group = "overhead: python -m mnistbench --help"
    benchmark.extra_info.update(role="ours", max_ms=1000)
    benchmark.pedantic(subprocess.run, args=([sys.executable, "-m", "mnistbench", "--help"],),
                       kwargs={"capture_output": True, "check": True}, rounds=5)


def test_cli_list_does_not_import_tensorflow(benchmark):
    code = ("import sys; from mnistbench.cli import main; main(['--list']); "
            "sys.exit('tensorflow' in sys.modules)")
    benchmark.group = "overhead: python -m mnistbench --list"
    benchmark.extra_info.update(role="ours")
    result = benchmark.pedantic(subprocess.run, args=([sys.executable, "-c", code],),
                                kwargs={"capture_output": True}, rounds=3)
    assert result.returncode == 0, "--list imported tensorflow"


def test_latency_measurement_costs_under_2_percent(benchmark, quick):
    """Latency reported for a model that does nothing, against the fastest real adapter."""
    X_train, y_train, X_test, _ = quick
    tree = get_classifier("tree", random_state=0).fit(X_train, y_train)
    empty = np.median(single_image_latencies(lambda image: None, X_test))
    real = np.median(single_image_latencies(tree.predict, X_test))
    benchmark.group = "overhead: latency measurement"
    benchmark.extra_info.update(role="ours", ratio=float(empty / real), max_ratio=0.02,
                                empty_p50_us=float(empty * 1e6), tree_p50_us=float(real * 1e6))
    benchmark(tree.predict, X_test[:1])
