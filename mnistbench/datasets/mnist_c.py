"""MNIST-C (Mu & Gilmer, 2019): the published corruptions of the MNIST test set, read by name.

The archive (``mnist_c.zip``, https://zenodo.org/record/3239543) unpacks to one folder per
corruption, each holding ``test_images.npy`` (10,000 x 28 x 28 x 1, uint8) and
``test_labels.npy`` (10,000 labels), plus the training-set files this module never reads::

    mnist_c/
      identity/  shot_noise/  impulse_noise/  glass_blur/  motion_blur/  shear/  scale/
      rotate/  brightness/  translate/  stripe/  fog/  spatter/  dotted_line/  zigzag/
      canny_edges/

A run names them as conditions ``mnist-c/<corruption>`` (``mnist-c`` alone: every corruption
found) and finds the folder in ``--data-dir``, as ``<data-dir>/mnist_c/`` or ``<data-dir>``
itself. This machine cannot download it; a user who has it gets the official corruptions.
"""

import zipfile
from pathlib import Path

import numpy as np

from mnistbench.errors import DataError, ParameterError

PREFIX = "mnist-c"
CORRUPTIONS = ("identity", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear",
               "scale", "rotate", "brightness", "translate", "stripe", "fog", "spatter",
               "dotted_line", "zigzag", "canny_edges")
IMAGES, LABELS = "test_images.npy", "test_labels.npy"


def mnist_c_root(data_dir):
    """The MNIST-C folder inside ``data_dir``: ``data_dir/mnist_c`` or ``data_dir`` itself.

    Raises
    ------
    DataError
        When no ``--data-dir`` is given or neither holds a corruption folder.
    """
    if data_dir is None:
        raise DataError("MNIST-C conditions need --data-dir, the folder holding mnist_c/ "
                        "(download mnist_c.zip from https://zenodo.org/record/3239543)")
    data_dir = Path(data_dir).expanduser()
    for root in (data_dir / "mnist_c", data_dir):
        if any((root / name / IMAGES).is_file() for name in CORRUPTIONS):
            return root
    raise DataError(f"no MNIST-C corruption folders (such as {data_dir / 'mnist_c' / 'rotate'}"
                    f"/{IMAGES}) in {data_dir}")


def available_corruptions(data_dir):
    """The corruptions present in ``data_dir``'s MNIST-C folder, in the published order."""
    root = mnist_c_root(data_dir)
    return [name for name in CORRUPTIONS if (root / name / IMAGES).is_file()]


def check_corruption(name):
    """Return ``name`` if it is an MNIST-C corruption, else raise ParameterError."""
    if name not in CORRUPTIONS:
        raise ParameterError(f"unknown MNIST-C corruption '{name}'; choose from: "
                             f"{', '.join(CORRUPTIONS)}")
    return name


def load_corruption(name, data_dir, image_shape=(28, 28)):
    """The corrupted test set ``name``: images (N, 28, 28) uint8 and labels (N,) int64.

    Raises
    ------
    DataError
        When a file is missing, unreadable or not what the published layout holds.
    """
    folder = mnist_c_root(data_dir) / check_corruption(name)
    images = _read_npy(folder / IMAGES)
    labels = _read_npy(folder / LABELS)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != tuple(image_shape):
        raise DataError(f"{folder / IMAGES} holds an array of shape {images.shape}; MNIST-C "
                        f"images are N x {image_shape[0]} x {image_shape[1]} (x 1)")
    if images.dtype != np.uint8:
        raise DataError(f"{folder / IMAGES} holds {images.dtype} pixels; MNIST-C's are uint8")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(images):
        raise DataError(f"{folder / LABELS} must hold {len(images)} integer labels, one per "
                        f"image; it holds a {labels.dtype} array of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{folder / LABELS} holds labels outside 0-9")
    return images, labels.astype(np.int64)


def _read_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"MNIST-C file {path} does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"MNIST-C file {path} is not a readable .npy array ({exc})") from None
