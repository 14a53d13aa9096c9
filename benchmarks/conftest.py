"""Shared data for the benchmark suite.

Quick benchmarks (the default) use fixed MNIST subsets; those marked ``slow`` use the full
MNIST and are selected with ``-m slow``. Each comparison puts its floor or anchor in the same
group with ``extra_info["role"]``; ``python benchmarks/ratios.py REPORT.json`` prints the ratios.
"""

import numpy as np
import pytest

from mnistbench.datasets import load_dataset

QUICK_TRAIN = 10_000
QUICK_TEST = 2_000


def pytest_xdist_auto_num_workers(config):
    """No worker processes for the benchmarks (setup.cfg's ``-n auto`` is for the tests): a
    timing taken beside another worker's tests is not a benchmark, and pytest-benchmark turns
    itself off under pytest-xdist."""
    return 0


@pytest.fixture(scope="session")
def mnist():
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def quick(mnist):
    """A fixed subset: the first 10,000 training and 2,000 test images."""
    return (mnist.X_train[:QUICK_TRAIN], mnist.y_train[:QUICK_TRAIN],
            mnist.X_test[:QUICK_TEST], mnist.y_test[:QUICK_TEST])


def flat32(X):
    """Images as a C-contiguous float32 matrix, one row each."""
    return np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)
