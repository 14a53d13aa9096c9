"""Any scikit-learn classifier, benchmarked like the built-in adapters ("bring your own").

The wrapper validates the images as every adapter does (:class:`DigitClassifier`), then hands
the estimator flat rows of float32 intensities in [0, 1] (grey level / 255) and labels
``0 .. n_classes - 1``. Probabilities come from the estimator's ``predict_proba``; one without
it (``LinearSVC``, ``RidgeClassifier``) gives probability 1 to the class it predicts.
"""

import numpy as np
from sklearn.base import clone

from mnistbench.classifiers.base import DigitClassifier, is_classifier, scaled
from mnistbench.errors import ParameterError


class ExternalClassifier(DigitClassifier):
    """A scikit-learn classifier of your own, given flat [0, 1] pixels.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Cloned at ``fit`` into ``estimator_``; its parameters are this wrapper's
        ``estimator__<name>``.
    augment : str
        Training-set augmentation, as for every adapter.
    """

    def __init__(self, estimator=None, augment="none"):
        self.estimator = estimator
        self.augment = augment

    def check_params(self):
        if not is_classifier(self.estimator):
            raise ParameterError(f"estimator must be a scikit-learn classifier, got "
                                 f"{self.estimator!r}")
        validate = getattr(self.estimator, "_validate_params", None)
        if validate is not None:  # scikit-learn's own parameter constraints, checked now
            try:
                validate()
            except ValueError as exc:
                raise ParameterError(str(exc)) from None

    def _fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(scaled(X), y)
        self.resolved_params_ = {name: value if is_plain(value) else repr(value) for name, value
                                 in self.estimator_.get_params(deep=False).items()}

    def _predict_proba(self, X):
        X = scaled(X)
        if hasattr(self.estimator_, "predict_proba"):
            proba = np.zeros((len(X), len(self.classes_)))
            proba[:, self.estimator_.classes_] = self.estimator_.predict_proba(X)
            return proba
        return np.eye(len(self.classes_))[self.estimator_.predict(X)]


def is_plain(value):
    """Whether ``value`` is a JSON-ready literal (None, bool, number, string, or lists and
    tuples of them)."""
    if isinstance(value, (list, tuple)):
        return all(is_plain(item) for item in value)
    return value is None or isinstance(value, (bool, int, float, str))
