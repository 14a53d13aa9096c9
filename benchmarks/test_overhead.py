"""The tool's own overhead: start-up of the CLI, the cost of measuring latency, and the cost of
one more job in a long run."""

import subprocess
import sys
import time

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


def test_per_job_overhead_stays_flat_over_600_jobs(benchmark, tmp_path):
    """600 ``tree`` jobs on digits: the time between one job's start and the next, over the
    last hundred jobs, within 1.5x of the first hundred's (run-level tables are rebuilt at most
    every few seconds, not after every job)."""
    from mnistbench.run.runner import run_benchmark

    starts = []

    def progress(line):
        if "fitting on" in line:
            starts.append(time.perf_counter())

    benchmark.group = "overhead: 600 tree jobs on digits"
    benchmark.pedantic(run_benchmark, args=(["tree"],), kwargs={
        "dataset": "digits", "repeats": 600, "out": tmp_path / "run", "progress": progress},
        rounds=1, iterations=1)
    gaps = np.diff(starts)
    first, last = gaps[:100].mean(), gaps[-100:].mean()
    benchmark.extra_info.update(role="ours", first_hundred_s=float(first),
                                last_hundred_s=float(last), ratio=float(last / first),
                                max_ratio=1.5)
    assert len(starts) == 600 and last <= 1.5 * first
