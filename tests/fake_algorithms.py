"""Adapters that misbehave on purpose, registered by tests to exercise the runner."""

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


class LogsSlowly(DigitClassifier):
    """Spends most of its fit logging, and says so in ``log_seconds_``."""

    def _fit(self, X, y):
        import time

        time.sleep(0.5)
        self.log_seconds_ = 0.5
        self.prior_ = np.bincount(y, minlength=len(self.classes_)) / len(y)

    def _predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))
