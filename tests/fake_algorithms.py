"""Adapters that misbehave on purpose, registered by tests to exercise the runner."""

import os
import signal
import time
from pathlib import Path

import numpy as np

from mnistbench.classifiers.base import DigitClassifier


class Boom(DigitClassifier):
    """Fails while fitting."""

    def _fit(self, X, y):
        raise RuntimeError("the model exploded")


class CtrlC(DigitClassifier):
    """Behaves as if the user pressed Ctrl-C while it trained."""

    def _fit(self, X, y):
        raise KeyboardInterrupt


class Prior(DigitClassifier):
    """Predicts the training set's class frequencies for every image."""

    def _fit(self, X, y):
        self.prior_ = np.bincount(y, minlength=len(self.classes_)) / len(y)

    def _predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


class LogsSlowly(Prior):
    """Spends most of its fit logging, and says so in ``log_seconds_``."""

    def _fit(self, X, y):
        time.sleep(0.5)
        self.log_seconds_ = 0.5
        super()._fit(X, y)


class Misbehaves(Prior):
    """Misbehaves in its first ``times`` fits (its process id appended to a file in the folder
    ``tally``, one file per number of times and seed, counts them), then fits a prior."""

    def __init__(self, tally="", times=1, random_state=None):
        self.tally = tally
        self.times = times
        self.random_state = random_state

    def _fit(self, X, y):
        tally = Path(self.tally) / f"{type(self).__name__}-{self.times}-{self.random_state}"
        with open(tally, "a") as file:
            file.write(f"{os.getpid()}\n")
        if len(tally.read_text().split()) <= self.times:
            self.misbehave()
        super()._fit(X, y)


class DiesInFit(Misbehaves):
    """Kills its own process (its worker) in the middle of fitting."""

    def misbehave(self):
        os.kill(os.getpid(), signal.SIGKILL)


class Stalls(Misbehaves):
    """Takes a minute to fit."""

    def misbehave(self):
        time.sleep(60)


class ReportsThreads(Prior):
    """A prior that reports the thread limits it fitted under in ``chosen_params_``."""

    def _fit(self, X, y):
        from threadpoolctl import threadpool_info

        self.chosen_params_ = {
            "blas": sorted({pool["num_threads"] for pool in threadpool_info()}),
            "tensorflow": int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0))}
        super()._fit(X, y)
