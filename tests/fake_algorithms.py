"""Adapters that misbehave on purpose, registered by tests to exercise the runner."""

from mnistbench.classifiers.base import DigitClassifier


class Boom(DigitClassifier):
    """Fails while fitting."""

    def _fit(self, X, y):
        raise RuntimeError("the model exploded")


class CtrlC(DigitClassifier):
    """Behaves as if the user pressed Ctrl-C while it trained."""

    def _fit(self, X, y):
        raise KeyboardInterrupt
