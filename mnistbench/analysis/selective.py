"""Selective prediction: answering only when confident, and what that costs in coverage.

A classifier's confidence in an image is its highest class probability (the margin between the
two highest is the alternative, where the probabilities are at hand). Lowering a threshold on
the confidence answers more images: the risk-coverage curve is the error rate on the answered
images against the fraction answered. Images of equal confidence are answered together, so the
operating points are the distinct confidence values, and each image contributes to the area the
risk of the first operating point that answers it.

- ``aurc``: area under the risk-coverage curve (lower is better);
- ``e_aurc``: its excess over the best possible ordering of the same predictions (every correct
  answer more confident than every mistake), which leaves out the error rate itself;
- coverage at a target accuracy: the largest fraction answered whose accuracy reaches it.

A threshold for deployment is chosen on held-out data (:func:`choose_threshold`) and applied
with :func:`predict_or_refuse` or :class:`SelectiveClassifier`, which answer ``-1`` for a
refusal.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.validation import check_is_fitted

REFUSED = -1
TARGETS = (0.995, 0.999)


def confidence_scores(probabilities, kind="max"):
    """Per-image confidence: the highest probability (``"max"``) or the gap between the two
    highest (``"margin"``)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if kind == "max":
        return probabilities.max(axis=1)
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def operating_points(confidence, correct):
    """The risk-coverage curve at each distinct confidence, most confident first.

    Returns
    -------
    thresholds : numpy.ndarray
        Distinct confidences, falling; answering ``confidence >= threshold``.
    coverage, accuracy : numpy.ndarray
        Fraction answered and accuracy on the answered images at each threshold.
    sizes : numpy.ndarray
        Images first answered at each threshold.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.shape != correct.shape or confidence.ndim != 1 or not len(confidence):
        raise ValueError("confidence and correct must be 1-D arrays of the same, non-zero length")
    order = np.argsort(-confidence, kind="stable")
    confidence, correct = confidence[order], correct[order]
    # the last image of each run of equal confidences closes an operating point
    ends = np.flatnonzero(np.r_[confidence[1:] != confidence[:-1], True])
    answered = ends + 1
    hits = np.cumsum(correct)[ends]
    return (confidence[ends], answered / len(confidence), hits / answered,
            np.diff(np.r_[0, answered]))


def aurc(confidence, correct):
    """Area under the risk-coverage curve: the mean, over images, of the error rate at the
    operating point that first answers each."""
    _, _, accuracy, sizes = operating_points(confidence, correct)
    return float(np.sum(sizes * (1 - accuracy)) / np.sum(sizes))


def optimal_aurc(correct):
    """The area for the best ordering: all ``c`` correct answers first, then the mistakes, one
    at a time."""
    correct = np.asarray(correct, dtype=bool)
    n, right = len(correct), int(correct.sum())
    answered = np.arange(right + 1, n + 1)
    return float(np.sum((answered - right) / answered) / n)


def coverage_at_accuracy(confidence, correct, target):
    """The largest fraction of images answered with accuracy at least ``target`` (0 if even the
    most confident operating point falls short)."""
    _, coverage, accuracy, _ = operating_points(confidence, correct)
    reached = accuracy >= target - 1e-12
    return float(coverage[reached].max()) if reached.any() else 0.0


def choose_threshold(confidence, correct, target):
    """The lowest confidence threshold at which the answered images of this (held-out) set reach
    ``target`` accuracy; ``inf`` (refuse everything) when none does."""
    thresholds, _, accuracy, _ = operating_points(confidence, correct)
    reached = np.flatnonzero(accuracy >= target - 1e-12)
    return float(thresholds[reached[-1]]) if len(reached) else float("inf")


def answered_metrics(confidence, correct, threshold):
    """``(coverage, accuracy)`` of answering ``confidence >= threshold``; the accuracy is NaN
    when nothing is answered."""
    answered = np.asarray(confidence) >= threshold
    coverage = float(answered.mean())
    accuracy = float(np.asarray(correct)[answered].mean()) if answered.any() else float("nan")
    return coverage, accuracy


def selective_summary(probabilities, y_true, y_pred):
    """One condition's selective-prediction metrics as a dict: ``aurc``, ``e_aurc``,
    ``aurc_margin`` (ordering by the top-two margin) and ``coverage_at_<target>`` for each
    target in :data:`TARGETS`."""
    correct = np.asarray(y_true) == np.asarray(y_pred)
    confidence = confidence_scores(probabilities)
    area = aurc(confidence, correct)
    summary = {"aurc": area, "e_aurc": area - optimal_aurc(correct),
               "aurc_margin": aurc(confidence_scores(probabilities, "margin"), correct)}
    for target in TARGETS:
        summary[f"coverage_at_{target:g}"] = coverage_at_accuracy(confidence, correct, target)
    return summary


def predict_or_refuse(estimator, X, threshold):
    """``estimator``'s answers for ``X``, with ``-1`` where its highest class probability is
    below ``threshold``.

    The answers are the arg-max of ``predict_proba`` (which is what ``predict`` returns for
    every mnistbench adapter).
    """
    probabilities = estimator.predict_proba(X)
    labels = np.asarray(estimator.classes_)[np.argmax(probabilities, axis=1)]
    return np.where(confidence_scores(probabilities) >= threshold, labels, REFUSED)


class SelectiveClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier that refuses (answers ``-1``) below a confidence threshold chosen on
    held-out data for a target accuracy.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Cloned and fitted by :meth:`fit`; :meth:`calibrate` uses it as it is when it is
        already fitted.
    target_accuracy : float
        Accuracy wanted on the answered images.

    Attributes
    ----------
    threshold_ : float
        The lowest confidence answered; ``inf`` when no threshold reached the target.
    calibration_ : dict
        ``coverage`` and ``accuracy`` on the calibration set at ``threshold_``.

    Examples
    --------
    >>> from mnistbench import SelectiveClassifier, load_dataset
    >>> from mnistbench.classifiers.knn import KNN
    >>> data = load_dataset("digits")
    >>> X_fit, y_fit, X_val, y_val = data.validation_split()
    >>> selective = SelectiveClassifier(KNN(), target_accuracy=0.99)
    >>> answers = selective.fit(X_fit, y_fit).calibrate(X_val, y_val).predict(data.X_test)
    """

    def __init__(self, estimator, target_accuracy=0.995):
        self.estimator = estimator
        self.target_accuracy = target_accuracy

    def fit(self, X, y):
        """Fit a clone of ``estimator`` on ``X, y`` (no threshold yet: see :meth:`calibrate`)."""
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def calibrate(self, X, y):
        """Choose ``threshold_`` on held-out ``X, y`` (never the test set); returns ``self``."""
        if not hasattr(self, "estimator_"):
            check_is_fitted(self.estimator)
            self.estimator_ = self.estimator
            self.classes_ = self.estimator_.classes_
        if not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must be in (0, 1], got {self.target_accuracy!r}")
        probabilities = self.estimator_.predict_proba(X)
        confidence = confidence_scores(probabilities)
        correct = self.classes_[probabilities.argmax(axis=1)] == np.asarray(y)
        self.threshold_ = choose_threshold(confidence, correct, self.target_accuracy)
        coverage, accuracy = answered_metrics(confidence, correct, self.threshold_)
        self.calibration_ = {"coverage": coverage, "accuracy": accuracy}
        return self

    def predict(self, X):
        """Answers for ``X``, ``-1`` where the model is less confident than ``threshold_``."""
        check_is_fitted(self, "threshold_")
        return predict_or_refuse(self.estimator_, X, self.threshold_)

    def predict_proba(self, X):
        """The wrapped estimator's probabilities."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def score(self, X, y, sample_weight=None):
        """Accuracy on the answered images (NaN when nothing is answered)."""
        answers = self.predict(X)
        answered = answers != REFUSED
        return float(np.mean(answers[answered] == np.asarray(y)[answered])) \
            if answered.any() else float("nan")
