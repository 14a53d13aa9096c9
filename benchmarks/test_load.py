"""Fits of the threaded adapters beside other threaded work, against the same fit alone (slow).

Each test times a quiet fit, the same fit beside ``LOAD_PROCESSES`` processes that run float32
matrix products on ``LOAD_THREADS`` BLAS threads each (started and stopped here), and a second
quiet fit, and records ``loaded / mean(quiet)`` in ``extra_info["ratio"]``. With two cores and
seven busy threads, a fit that takes its fair share runs about 4x slower; the target is 6x.

The quiet fits are quiet only if nothing else runs on the machine: the load average
(``os.getloadavg()``, 1 minute) is recorded before and after every fit, so a report can say
how busy the machine was.
"""

import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from sklearn.base import clone

from mnistbench.classifiers.registry import get_classifier

pytestmark = pytest.mark.slow

N_TRAIN = 20_000
LOAD_PROCESSES = 3
LOAD_THREADS = 2
LOAD_SECONDS = 1200  # a background process stops by itself after this, whatever happens here
MAX_RATIO = 6.0
THREADED = ("boosting", "forest", "svm", "knn")

# float32 products of 1024 x 1024 matrices, over and over, until the deadline
LOAD_WORKER = """
import sys, time
import numpy as np
deadline = time.monotonic() + float(sys.argv[1])
a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
print("ready", flush=True)
while time.monotonic() < deadline:
    a @ a
"""


@contextmanager
def threaded_load(processes=LOAD_PROCESSES, threads=LOAD_THREADS):
    """Run ``processes`` matrix-product loops on ``threads`` BLAS threads each while the block
    runs; they are killed when it ends, and stop by themselves after ``LOAD_SECONDS``."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)  # other people's processes keep the default
    workers = []
    try:
        for _ in range(processes):
            workers.append(subprocess.Popen(
                [sys.executable, "-c", LOAD_WORKER, str(LOAD_SECONDS)], env=env,
                stdout=subprocess.PIPE, text=True))
        for worker in workers:  # every one is computing before the timed fit starts
            assert worker.stdout.readline().strip() == "ready"
        yield
    finally:
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.wait()
            worker.stdout.close()


def load_average():
    return round(os.getloadavg()[0], 2)


def timed(function):
    """``(seconds, load average before, load average after)`` of one call."""
    before = load_average()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start, before, load_average()


@pytest.fixture(scope="module")
def subset(mnist):
    return mnist.X_train[:N_TRAIN], mnist.y_train[:N_TRAIN]


@pytest.mark.parametrize("name", THREADED)
def test_fit_beside_threaded_processes(benchmark, subset, name):
    X, y = subset
    classifier = get_classifier(name)
    if "random_state" in classifier.get_params():
        classifier.set_params(random_state=0)
    classifier.import_backend()  # the import is not part of any fit

    def fit():
        clone(classifier).fit(X, y)

    benchmark.group = f"{name} fit beside {LOAD_PROCESSES} processes x {LOAD_THREADS} threads"
    quiet_before, *load_quiet_before = timed(fit)
    with threaded_load():
        loaded, *load_loaded = benchmark.pedantic(timed, args=(fit,), rounds=1)
    quiet_after, *load_quiet_after = timed(fit)
    quiet = (quiet_before + quiet_after) / 2
    benchmark.extra_info.update(
        n_train=N_TRAIN, quiet_s=[round(quiet_before, 2), round(quiet_after, 2)],
        loaded_s=round(loaded, 2), ratio=loaded / quiet, max_ratio=MAX_RATIO,
        load_average={"quiet before": load_quiet_before, "loaded": load_loaded,
                      "quiet after": load_quiet_after})
