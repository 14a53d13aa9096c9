"""Evaluation conditions: the named image sets a fitted model is scored on, without refitting.

- ``test``: the clean test set, always;
- a transform name (``rot180``, ``blur``, ... see :mod:`mnistbench.datasets.transforms`): the
  test set transformed, with the same seed for every job, so all models see the same images
  and can be compared image by image;
- ``mixed-<transform>``: the clean test set followed by its transformed copy (the write-up's
  "upright + rotated" set is ``mixed-rot180``);
- ``mnist-c/<corruption>``: a published MNIST-C corruption read from ``--data-dir``
  (``mnist-c`` alone: every corruption found there);
- ``holdout``: the last 10% of the training set, left out of the fit, for jobs that choose a
  selective-prediction threshold (``--target-accuracy``).
"""

import numpy as np

from mnistbench.datasets import mnist_c
from mnistbench.datasets.transforms import TRANSFORMS, apply_transform, transform_names
from mnistbench.errors import ParameterError
from mnistbench.run.schema import CLEAN, HOLDOUT

MIXED = "mixed-"
SHIFT_SEED = 0  # every job sees the same shifted images
HOLDOUT_FRACTION = 0.1


def parse_shifts(text, dataset="mnist", data_dir=None):
    """``--shifts`` as a list of condition names, checked (MNIST-C files are read now, so a
    missing or corrupt one fails before any job runs).

    Raises
    ------
    ParameterError
        For an unknown name, or MNIST-C with a dataset other than ``mnist``.
    DataError
        For missing or malformed MNIST-C files.
    """
    if text is None:
        return []
    tokens = [token.strip() for token in (text.split(",") if isinstance(text, str) else text)]
    names = []
    for token in filter(None, tokens):
        if token == "none":
            continue
        if token == "all":
            names += transform_names()
        elif token == mnist_c.PREFIX or token.startswith(mnist_c.PREFIX + "/"):
            if dataset != "mnist":
                raise ParameterError(f"MNIST-C conditions apply to the mnist dataset, not "
                                     f"{dataset}")
            corruptions = mnist_c.available_corruptions(data_dir) if token == mnist_c.PREFIX \
                else [mnist_c.check_corruption(token.partition("/")[2])]
            for corruption in corruptions:
                mnist_c.load_corruption(corruption, data_dir)
                names.append(f"{mnist_c.PREFIX}/{corruption}")
        elif token.removeprefix(MIXED) in TRANSFORMS:
            names.append(token)
        else:
            raise ParameterError(
                f"unknown shift '{token}'; choose from: {', '.join(TRANSFORMS)}, "
                f"{MIXED}<shift>, {mnist_c.PREFIX} or {mnist_c.PREFIX}/<corruption> "
                f"(or 'all')")
    return list(dict.fromkeys(names))


def condition_sets(data, shifts=(), data_dir=None, holdout=False):
    """``(fit_images, fit_labels, {condition: (images, labels)})`` for a job on ``data``.

    With ``holdout``, the fit leaves out the last :data:`HOLDOUT_FRACTION` of the training set
    and the ``holdout`` condition holds it.
    """
    if holdout:
        X_fit, y_fit, X_val, y_val = data.validation_split(HOLDOUT_FRACTION)
    else:
        X_fit, y_fit = data.X_train, data.y_train
    sets = {CLEAN: (data.X_test, data.y_test)}
    if holdout:
        sets[HOLDOUT] = (X_val, y_val)
    for name in shifts:
        if name.startswith(mnist_c.PREFIX + "/"):
            sets[name] = mnist_c.load_corruption(name.partition("/")[2], data_dir,
                                                 data.X_test.shape[1:])
        elif name.startswith(MIXED):
            shifted = apply_transform(name.removeprefix(MIXED), data.X_test, SHIFT_SEED)
            sets[name] = (np.concatenate([data.X_test, shifted]),
                          np.concatenate([data.y_test, data.y_test]))
        else:
            sets[name] = (apply_transform(name, data.X_test, SHIFT_SEED), data.y_test)
    return X_fit, y_fit, sets
