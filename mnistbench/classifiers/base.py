"""The classifier contract every adapter follows (scikit-learn's estimator API).

An adapter subclasses :class:`DigitClassifier`, stores its arguments in ``__init__`` and
implements ``check_params``, ``_fit`` and ``_predict_proba`` (and ``_predict`` when it has a
faster path than the arg-max of the probabilities). Input conversion, label encoding and the
fitted-state checks live here, once.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from mnistbench.errors import ParameterError


class DigitClassifier(ClassifierMixin, BaseEstimator):
    """Base for mnistbench adapters.

    ``fit(X, y)`` accepts images of shape (N, H, W) or flat arrays of shape (N, H*W), uint8 or
    float, and labels of any sortable type. After fitting, ``classes_`` holds the sorted labels
    and ``n_features_in_`` the number of pixels. ``predict_proba`` returns one column per class
    in ``classes_`` order, rows summing to 1; ``score`` is accuracy.

    Adapters that select hyper-parameters do it inside ``fit`` on a holdout of the training
    data (:func:`mnistbench.datasets.holdout_split`), record what they chose in
    ``chosen_params_`` and, when they sweep, one dict per setting in ``sweep_``.
    ``resolved_params_`` holds every setting the fit used (a preset's values included).
    """

    BACKEND_MODULES = ()  # heavy libraries fit imports, e.g. ("tensorflow",)

    def import_backend(self):
        """Import the libraries ``fit`` needs now, so that a timed ``fit`` leaves them out."""
        import importlib

        for module in self.BACKEND_MODULES:
            importlib.import_module(module)

    def check_params(self):
        """Raise :class:`~mnistbench.errors.ParameterError` if a parameter value is invalid."""

    def fit(self, X, y):
        """Fit to images ``X`` and labels ``y``; returns ``self``."""
        self.check_params()
        X = self._flat(X, fitting=True)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be a vector of {len(X)} labels, got shape {y.shape}")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.resolved_params_ = self.get_params()  # adapters with presets add what they resolve
        self._fit(X, y_index)
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (N, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self)
        return self._predict_proba(self._flat(X))

    def predict(self, X):
        """Predicted labels, shape (N,)."""
        check_is_fitted(self)
        return self.classes_[self._predict(self._flat(X))]

    def save(self, path):
        """Save the fitted model into the directory ``path``; load it with
        :func:`mnistbench.load_model`; :mod:`mnistbench.classifiers.persistence` lists the
        files."""
        from mnistbench.classifiers.persistence import save_model

        return save_model(self, path)

    def _predict(self, X):
        """Class indices for flat ``X``; override when there is a faster path than this."""
        return np.argmax(self._predict_proba(X), axis=1)

    def _flat(self, X, fitting=False):
        X = np.asarray(X)
        if X.ndim < 2:
            raise ValueError(f"X must hold images (N×H×W) or rows (N×D), got shape {X.shape}")
        X = X.reshape(len(X), -1)
        if fitting:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} pixels per image, but this model was fitted "
                             f"on {self.n_features_in_}")
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags


def check_in_range(name, value, low=None, high=None, kind=int):
    """Return ``value`` if it is a ``kind`` within ``[low, high]``, else raise ParameterError."""
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool)
    if kind is int:
        numeric = numeric and float(value).is_integer()
    if not numeric or (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            bounds = f">= {low}" if low is not None else ""
        else:
            bounds = f"in [{low}, {high}]" if low is not None else f"<= {high}"
        what = "an integer" if kind is int else "a number"
        raise ParameterError(f"{name} must be {what} {bounds}, got {value!r}".replace("  ", " "))
    return kind(value)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise ParameterError."""
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value
