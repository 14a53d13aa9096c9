import gzip
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mnistbench
from mnistbench.classifiers.registry import get_classifier
from mnistbench.cli import main
from mnistbench.datasets import load_dataset
from mnistbench.run import timing

# a scikit-learn classifier of no adapter's, run through the bring-your-own wrapper
EXTERNAL = "sklearn.ensemble:ExtraTreesClassifier"
# settings that train in about a second on the 8x8 digits and still score far above chance;
# algorithms not listed run with their defaults
TINY = {"mlp": {"epochs": 30}, "tf-softmax": {"epochs": 30, "learning_rate": 0.01},
        "tf-mlp": {"epochs": 4}, "cnn": {"epochs": 2}, "forest": {"n_estimators": 20},
        "boosting": {"n_estimators": 20}, "ensemble": {"members": ("linear", "knn", "tree")},
        EXTERNAL: {"n_estimators": 20}}


@pytest.fixture(autouse=True)
def tensorflow_log_level_unset(monkeypatch):
    """Every test starts with ``TF_CPP_MIN_LOG_LEVEL`` unset, as a user who never heard of it
    has it, whatever the caller exported: the tests of what reaches standard error (here and in
    the processes they start) must not depend on the caller's environment."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)


@pytest.fixture(autouse=True)
def latency_after_its_minimum_calls(monkeypatch):
    """A job run in this process times single images for its ``MIN_CALLS`` calls, not for
    half a second more: no test reads how long the latencies were measured, and every job of
    every run these tests start paid that half second."""
    monkeypatch.setattr(timing, "MIN_SECONDS", 0)


def idx_bytes(array):
    """The IDX encoding of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path, array, compress=True):
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def mnist():
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def tiny_fit(digits):
    """``tiny_fit(name)``: ``(classifier, what its fit returned)`` for the algorithm ``name``
    with the TINY settings and ``random_state=0`` where it takes one, fitted on the digits'
    training images once per session. The tests that share it must leave it as it is."""
    fitted = {}

    def fit(name):
        if name not in fitted:
            classifier = get_classifier(name, **TINY.get(name, {}))
            if "random_state" in classifier.get_params(deep=False):
                classifier.set_params(random_state=0)
            fitted[name] = classifier, classifier.fit(digits.X_train, digits.y_train)
        return fitted[name]

    return fit


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args, cwd=None)``: ``python -m mnistbench ARGS`` run in this process, with the
    ``sys.argv`` that command sets, as a ``CompletedProcess`` (exit code, standard output,
    standard error). A subprocess costs seconds of imports and proves nothing more, unless the
    test is about the process itself."""
    # the command sets its own warning display; it is put back after the test
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    program = str(Path(mnistbench.__file__).parent / "__main__.py")

    def run(*args, cwd=None):
        args = [str(arg) for arg in args]
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", [program, *args])
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run
