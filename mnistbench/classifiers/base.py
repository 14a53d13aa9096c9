"""The classifier contract every adapter follows (scikit-learn's estimator API).

An adapter subclasses :class:`DigitClassifier`, stores its arguments in ``__init__`` and
implements ``check_params``, ``_fit`` and ``_predict_proba`` (and ``_predict`` when it has a
faster path than the arg-max of the probabilities). Input validation, image shapes, pixel
scaling, label encoding, the fitted-state checks, the parameter rules every adapter shares and
the quiet import of TensorFlow live here, once. This module imports no other adapter module
and nothing that imports adapters (saving is :func:`mnistbench.save_model`).
"""

import contextlib
import importlib
import inspect
import logging
import os
import sys

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mnistbench.datasets import holdout_split
from mnistbench.datasets.transforms import augmented, parse_transforms
from mnistbench.errors import ParameterError

PIXEL_RULE = "pixels must be grey levels in [0, 255] or intensities in [0, 1]"
TENSORFLOW = ("tensorflow", "keras")  # backends that log through TensorFlow
TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
RETRACING = "triggered tf.function retracing"


class DigitClassifier(ClassifierMixin, BaseEstimator):
    """Base for mnistbench adapters.

    ``fit(X, y)`` accepts images of shape (N, H, W) or flat arrays of shape (N, H*W) and
    labels of any sortable type, at least two classes of them. After fitting, ``classes_``
    holds the sorted labels, ``n_features_in_`` the number of pixels and ``image_shape_`` the
    (H, W) of the fitted images (None after a fit on flat rows). ``predict_proba`` returns one
    column per class in ``classes_`` order, rows summing to 1; ``score`` is accuracy. A ``fit``
    that raises leaves the estimator as it was.

    The image shape is part of what ``fit`` learns. ``predict``, ``predict_proba`` and
    ``score`` take images of the fitted shape, or flat rows of the fitted pixel count; images
    of another shape raise ``ValueError`` naming both shapes, even with the same pixel count
    (8x8 and 4x16 digits are different pictures). After a fit on flat rows the shape is
    unknown, so any image with the fitted pixel count is taken. Grey-level images may carry one
    channel axis, last (N, H, W, 1) or first (N, 1, H, W), as Keras and PyTorch store them:
    every adapter drops it, in ``fit`` and at prediction alike. Any other image layout (colour
    channels, more axes) raises ``ValueError``.

    Pixels are grey levels, read by :func:`grey_levels`: integers (uint8 or any other integer
    type) as 0-255; floats as 0-255, except that a float image whose largest value is at most
    1 is read as [0, 1] intensities and multiplied by 255 (``x_train / 255`` gives the same
    predictions as ``x_train``; an all-zero image is the same on both scales); booleans as 0
    and 255. NaN, infinity, negative values and values above 255 raise ``ValueError``, as do
    the inputs scikit-learn's own validation refuses (empty, sparse, complex, strings).

    Adapters that select hyper-parameters do it inside ``fit`` on a holdout of the training
    data (:meth:`_holdout`), record what they chose in ``chosen_params_`` and, when they sweep,
    one dict per setting in ``sweep_``. ``resolved_params_`` holds every setting the fit used (a
    preset's values included).

    Every adapter takes ``augment``, a comma list of transform names from
    :mod:`mnistbench.datasets.transforms` (or ``"none"``): the training set becomes the original
    images plus one transformed copy per name, seeded by ``random_state``. An adapter with a
    validation holdout transforms only the images it trains on, and keeps the holdout as it
    is unless its ``augment_holdout`` is true. ``n_fit_images_`` is the number of images the
    fit trained on, copies included.
    """

    BACKEND_MODULES = ()  # heavy libraries fit imports, e.g. ("tensorflow",)
    # True for adapters whose _fit splits off a holdout with _holdout (which augments the rest):
    # they take augment_holdout, and fit leaves the augmenting to them
    HOLDOUT = False
    # predict is the arg-max of predict_proba (an adapter's own _predict is only faster), so
    # the runner gets both from one predict_proba; False for a wrapper whose predict differs
    PREDICT_IS_ARGMAX = True

    def import_backend(self):
        """Import the libraries ``fit`` needs now, so that a timed ``fit`` leaves them out;
        TensorFlow without its notices (see :func:`quiet_tensorflow_import`)."""
        missing = [module for module in self.BACKEND_MODULES if module not in sys.modules]
        uses_tensorflow = any(module in TENSORFLOW for module in self.BACKEND_MODULES)
        if missing:
            with quiet_tensorflow_import() if uses_tensorflow else contextlib.nullcontext():
                for module in missing:
                    importlib.import_module(module)
                if uses_tensorflow and "tensorflow" in sys.modules:  # its device probe logs too
                    sys.modules["tensorflow"].config.list_physical_devices()
        if uses_tensorflow:
            hide_retracing_warnings()

    def check_params(self):
        """Raise :class:`~mnistbench.errors.ParameterError` if a parameter value is invalid."""

    def check_all_params(self):
        """:meth:`check_params`, and the rules of the parameters adapters share: ``augment``
        names, ``augment_holdout`` and ``random_state`` (see :func:`check_seed`)."""
        parse_transforms(getattr(self, "augment", "none"), "augmentation")
        if getattr(self, "random_state", None) is not None:
            check_seed(self.random_state)
        if self.HOLDOUT and not isinstance(self.augment_holdout, (bool, np.bool_)):
            raise ParameterError(f"augment_holdout must be True or False, got "
                                 f"{self.augment_holdout!r}")
        self.check_params()

    def fit(self, X, y):
        """Fit to images ``X`` and labels ``y``; returns ``self``."""
        self.check_all_params()
        before = self.__dict__.copy()
        try:
            X, image_shape = image_rows(X)
            check_grey_images(image_shape, type(self).__name__)
            check_pixel_array(X, type(self).__name__)
            X, y = validate_data(self, X, y, dtype="numeric", ensure_all_finite=False)
            check_classification_targets(y)
            X = grey_levels(X, type(self).__name__)
            self.classes_, y_index = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes in y, but y "
                                 f"holds 1 class ({self.classes_[0]!r})")
            self.image_shape_ = image_shape
            self.resolved_params_ = self.get_params()  # adapters with presets add theirs
            self.import_backend()
            if not self.HOLDOUT:  # else _fit augments what it trains on
                X, y_index = self._augmented(X, y_index)
            self._fit(X, y_index)
        except BaseException:
            # no half-fitted state: the estimator is as it was before this fit
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (N, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self)
        return self._predict_proba(self._pixels(X))

    def predict(self, X):
        """Predicted labels, shape (N,)."""
        check_is_fitted(self)
        return self.classes_[self._predict(self._pixels(X))]

    def memory_estimate(self, n_fit, n_predict, n_features, n_classes):
        """A generous estimate of the bytes ``fit`` on ``n_fit`` images and ``predict`` on
        ``n_predict`` will allocate beyond their input, as ``{what: bytes}``, for the runner to
        refuse a job that cannot fit (:mod:`mnistbench.run.memory`). This default allows a
        float64 copy of the training images; adapters with larger working sets say so."""
        return {"a float64 copy of the training images": 8 * n_fit * n_features}

    def _augmented(self, X, y):
        """``X, y`` followed by the copies ``augment`` asks for (see the class docstring)."""
        X, y = augmented(X, y, getattr(self, "augment", "none"),
                         seed=getattr(self, "random_state", None) or 0)
        self.n_fit_images_ = len(X)
        return X, y

    def _holdout(self, X, y):
        """``(X_fit, y_fit, X_val, y_val)``: the last ``validation_fraction`` of the training
        set held out (:func:`~mnistbench.datasets.holdout_split`), the rest augmented."""
        X_fit, y_fit, X_val, y_val = holdout_split(X, y, self.validation_fraction)
        X_fit, y_fit = self._augmented(X_fit, y_fit)
        if self.augment_holdout:  # seeded apart from the training copies
            X_val, y_val = augmented(X_val, y_val, self.augment,
                                     seed=(getattr(self, "random_state", None) or 0) + 1000)
        return X_fit, y_fit, X_val, y_val

    def _predict(self, X):
        """Class indices for flat ``X``; override when there is a faster path than this."""
        return np.argmax(self._predict_proba(X), axis=1)

    def _pixels(self, X):
        """``X`` checked against the fitted model, as rows of 0-255 grey levels."""
        X, image_shape = image_rows(X)
        self._check_image_shape(image_shape)
        if type(X) is np.ndarray and X.dtype == np.uint8 and X.ndim == 2 and len(X) \
                and X.shape[1] == self.n_features_in_ and not hasattr(self, "feature_names_in_"):
            # the common case, kept cheap for single images: 8-bit pixels of the right count
            # cannot be NaN, negative or above 255, so scikit-learn's checks have nothing to do
            return X
        check_pixel_array(X, type(self).__name__)
        X = validate_data(self, X, dtype="numeric", reset=False, ensure_all_finite=False)
        return grey_levels(X, type(self).__name__)

    def _check_image_shape(self, image_shape):
        """Raise ``ValueError`` for images of another shape than the fitted ones."""
        # models fitted or saved before the shape was learned have none: the pixel count decides
        fitted = getattr(self, "image_shape_", None)
        if image_shape is None or fitted is None or tuple(fitted) == image_shape:
            check_grey_images(image_shape, type(self).__name__)
            return
        raise ValueError(f"{type(self).__name__} was fitted on {shape_text(fitted)} images and "
                         f"cannot predict on {shape_text(image_shape)} images; give it "
                         f"{shape_text(fitted)} images or rows of {self.n_features_in_} pixels")

    def __setstate__(self, state):
        # a model pickled before a parameter existed (augment, say) gets its default
        defaults = {name: parameter.default for name, parameter in
                    inspect.signature(type(self).__init__).parameters.items() if name != "self"}
        super().__setstate__({**defaults, **state})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags


def image_rows(X):
    """``(rows, image shape)``: for an array of three axes or more, one row of pixels per image
    and the shape of one image, a single-channel axis dropped ((N, H, W, 1) and (N, 1, H, W)
    give (H, W)); any input of at most two axes as it is, for scikit-learn's validation to
    judge, with shape None."""
    if getattr(X, "ndim", None) is None:
        X = np.asarray(X)
    if X.ndim <= 2:
        return X, None
    shape = tuple(int(side) for side in X.shape[1:])
    if len(shape) == 3 and 1 in (shape[0], shape[-1]):
        shape = shape[:2] if shape[-1] == 1 else shape[1:]  # one grey channel, last or first
    return np.reshape(X, (X.shape[0], int(np.prod(shape)))), shape


def check_pixel_array(X, whom):
    """Refuse in one sentence what scikit-learn's validation would refuse in several lines (it
    prints the array): fewer than two axes, complex numbers."""
    if X.ndim < 2:
        raise ValueError(f"Reshape your data as images (N, H, W) or rows of pixels (N, H*W): "
                         f"{whom} got an array of shape {X.shape}")
    if getattr(X, "dtype", None) is not None and X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported by {whom}; {PIXEL_RULE}")


def check_grey_images(image_shape, whom):
    """Raise ``ValueError`` unless ``image_shape`` is (H, W), or None for flat rows."""
    if image_shape is not None and len(image_shape) != 2:
        raise ValueError(f"{whom} takes grey-level images (N, H, W), with at most one channel "
                         f"axis of size 1, first or last; got images of shape "
                         f"{shape_text(image_shape)}")


def shape_text(image_shape):
    """``"8x8"`` for (8, 8)."""
    return "x".join(str(side) for side in image_shape)


def grey_levels(X, whom):
    """Validated 2-D pixels ``X`` as 0-255 grey levels (see :class:`DigitClassifier`).

    Integers and booleans come back as uint8; floats keep their dtype, and the rows whose
    largest value is at most 1 are multiplied by 255 (in that dtype, so ``x / 255`` comes back
    as exactly ``x``).

    Raises
    ------
    ValueError
        For NaN, a negative value or one above 255 (infinities included).
    """
    if X.dtype == np.uint8:
        return X
    if X.dtype.kind == "b":
        return np.where(X, np.uint8(255), np.uint8(0))
    low = X.min()
    if np.isnan(low):
        raise ValueError(f"NaN in data passed to {whom}; {PIXEL_RULE}")
    if low < 0:
        raise ValueError(f"Negative values in data passed to {whom} (smallest {low}); "
                         f"{PIXEL_RULE}")
    row_max = X.max(axis=1)
    if row_max.max() > 255:
        raise ValueError(f"Values above 255 in data passed to {whom} (largest "
                         f"{row_max.max()}); {PIXEL_RULE}")
    if X.dtype.kind in "iu":
        return X.astype(np.uint8)
    unit = row_max <= 1
    if unit.all():
        return X * X.dtype.type(255)
    if unit.any():
        X = X.copy()
        X[unit] *= X.dtype.type(255)
    return X


def check_in_range(name, value, low=None, high=None, kind=int):
    """Return ``value`` if it is a ``kind`` within ``[low, high]``, else raise ParameterError."""
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool) and value == value  # NaN is the one number unequal to itself
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


def check_positive(name, value):
    """Return ``value`` as a float if it is a number above 0, else raise ParameterError."""
    value = check_in_range(name, value, 0, kind=float)
    if value == 0:
        raise ParameterError(f"{name} must be above 0, got 0")
    return value


def check_seed(value, name="random_state"):
    """Return the seed ``value`` if it is an integer in [0, 2**32 - 1], the range NumPy,
    scikit-learn and TensorFlow all accept, else raise ParameterError. Checked once for every
    adapter by :meth:`DigitClassifier.check_all_params`; None (unseeded) is never passed."""
    return check_in_range(name, value, 0, 2**32 - 1)


def check_fraction(name, value):
    """Return ``value`` as a float if it is a number strictly between 0 and 1, else raise
    ParameterError."""
    value = check_in_range(name, value, 0, 1, kind=float)
    if value in (0, 1):
        raise ParameterError(f"{name} must be between 0 and 1, both excluded, got {value:g}")
    return value


@contextlib.contextmanager
def quiet_tensorflow_import():
    """A block in which TensorFlow is imported and finds its devices without printing its C++
    notices (oneDNN, CPU features, CUDA probing such as ``failed call to cuInit`` on a machine
    without a GPU), so that a script using the adapters is as quiet as the command line.

    TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` when it is imported. If it is not set, it is set
    to 3 (only fatal messages) for the process and the processes it starts; a value the user
    set is kept. Messages logged before TensorFlow initialises its logging ignore that level
    (TensorFlow issue 100442), so standard error is also closed while the block runs, unless
    the level is 0, which asks for every message (the command line's ``--verbose`` sets it).
    """
    if os.environ.setdefault(TF_LOG_LEVEL, "3") == "0":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class RetracingFilter(logging.Filter):
    """Drops TensorFlow's warning that a ``tf.function`` was traced again, unless
    ``TF_CPP_MIN_LOG_LEVEL`` is 0. Each fit builds its own functions on purpose (they close
    over that fit's weights), so the warning, meant for functions rebuilt by mistake, gives a
    library user nothing to act on."""

    def filter(self, record):
        return os.environ.get(TF_LOG_LEVEL) == "0" or RETRACING not in record.getMessage()


def hide_retracing_warnings():
    """Add one :class:`RetracingFilter` to TensorFlow's Python logger."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(existing, RetracingFilter) for existing in logger.filters):
        logger.addFilter(RetracingFilter())


def scaled(X):
    """0-255 pixels as float32 in [0, 1], in one pass (3x faster than converting, then dividing)."""
    return np.multiply(X, np.float32(1 / 255), dtype=np.float32)


def is_classifier(estimator):
    """Whether ``estimator`` is a scikit-learn estimator whose tags say classifier."""
    from sklearn.base import is_classifier as tagged_classifier

    try:
        return hasattr(estimator, "get_params") and tagged_classifier(estimator)
    except Exception:  # no tags, or broken ones: not a classifier we can drive
        return False
