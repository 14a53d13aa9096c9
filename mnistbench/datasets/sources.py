"""Datasets: where each one lives, how it is verified, and the :class:`Dataset` value.

``mnist`` ships inside the package, ``fashion`` is searched for on disk and downloaded into the
user cache as a last resort, and ``digits`` is scikit-learn's bundled 8x8 set.
"""

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistbench.errors import DataError, ParameterError
from mnistbench.datasets.readers import (IDX_PARTS, check_images_labels, md5_hex, parse_idx,
                                         read_bytes, read_npz)

PACKAGE_DATA = Path(__file__).parent  # holds mnist/
DIGIT_NAMES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class IdxSource:
    """An IDX dataset: the published MD5 of each uncompressed file and where to look for it."""

    name: str
    title: str
    md5: dict
    class_names: tuple
    checksum: str  # arrays_checksum of the verified data, to check files with no published MD5
    npz_name: str
    packaged: bool = False
    system_dir: Path = None
    system_package: str = None
    mirrors: tuple = ()


MNIST = IdxSource(
    name="mnist",
    title="MNIST",
    md5=dict(zip(IDX_PARTS, (
        "6bbc9ace898e44ae57da46a324031adb",
        "a25bea736e30d166cdddb491f175f624",
        "2646ac647ad5339dbf082846283269ea",
        "27ae3e4e09519cfbb04c329615203637",
    ))),
    class_names=DIGIT_NAMES,
    checksum="5904de95d904082a42773ca27929ef10",
    npz_name="mnist.npz",
    packaged=True,
)

FASHION = IdxSource(
    name="fashion",
    title="Fashion-MNIST",
    md5=dict(zip(IDX_PARTS, (
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "9018921c3c673c538a1fc5bad174d6f9",
        "8181f5470baa50b63fa0f6fddb340f0a",
        "15d484375f8d13e6eb1aabb0c3f46965",
    ))),
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    checksum="8f6b474d5a2c1f55ef24d749d5b3cbbe",
    npz_name="fashion-mnist.npz",
    system_dir=Path("/usr/share/datasets/fashion-mnist"),
    system_package="dataset-fashion-mnist",
    # files are verified by MD5 whatever the transport; the S3 website endpoint is http only
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
)

IDX_SOURCES = {source.name: source for source in (MNIST, FASHION)}
DATASET_NAMES = ("digits", "fashion", "mnist")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test image classification dataset.

    Attributes
    ----------
    name : str
        Public name (``mnist``, ``fashion``, ``digits``).
    X_train, X_test : numpy.ndarray of uint8, shape (N, H, W)
        Images, read-only.
    y_train, y_test : numpy.ndarray of int64, shape (N,)
        Labels, read-only.
    class_names : tuple of str
        Name of each label value, in label order.
    checksum : str
        MD5 over the four arrays (shape, dtype and bytes); identical whatever file format the
        data came from.
    source : str
        Where the data was read from.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    checksum: str
    source: str

    def validation_split(self, fraction=0.1):
        """Return ``(X_fit, y_fit, X_val, y_val)``: the training set minus its last ``fraction``.

        This is the only split used for model selection; the test set is never looked at.
        """
        return holdout_split(self.X_train, self.y_train, fraction)


def holdout_split(X, y, fraction=0.1):
    """Split off the last ``fraction`` of ``X, y`` (deterministic, as Keras' validation_split).

    Returns
    -------
    X_fit, y_fit, X_val, y_val
    """
    n_val = holdout_size(len(X), fraction)
    return X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]


def holdout_size(n, fraction):
    """Number of samples :func:`holdout_split` holds out of ``n`` (at least one, never all)."""
    if not 0 < fraction < 1:
        raise ParameterError(f"validation fraction must be between 0 and 1, got {fraction}")
    n_val = int(round(n * fraction))
    if not 1 <= n_val < n:
        raise ParameterError(
            f"cannot hold out {fraction:.0%} of {n} samples for validation; use more data")
    return n_val


def arrays_checksum(*arrays):
    """MD5 over the shape, dtype and bytes of ``arrays``."""
    digest = hashlib.md5(usedforsecurity=False)
    for array in arrays:
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def load_dataset(name, data_dir=None):
    """Load a dataset by name.

    Parameters
    ----------
    name : {"mnist", "fashion", "digits"}
    data_dir : str or pathlib.Path, optional
        Directory searched first for the four IDX files (``.gz`` or raw) or a Keras-style
        ``.npz``, either directly or in a sub-folder named after the dataset. Then come
        ``$MNISTBENCH_DATA``, the system or packaged copy, and the user cache
        (``~/.cache/mnistbench``); ``fashion`` is downloaded into the cache if found nowhere.

    Returns
    -------
    Dataset

    Raises
    ------
    ParameterError
        For an unknown name.
    DataError
        When files are missing, malformed or fail their published checksums.
    """
    if name not in DATASET_NAMES:
        raise ParameterError(f"unknown dataset '{name}'; choose from: {', '.join(DATASET_NAMES)}")
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser().resolve()
        if name in IDX_SOURCES:
            check_data_dir(IDX_SOURCES[name], data_dir)
        data_dir = str(data_dir)
    return _load_cached(name, data_dir, os.environ.get("MNISTBENCH_DATA"), str(cache_dir()))


@functools.lru_cache(maxsize=4)
def _load_cached(name, data_dir, env_dir, cache):
    if name == "digits":
        return load_digits()
    return load_idx_dataset(IDX_SOURCES[name], search_dirs(IDX_SOURCES[name], data_dir, env_dir))


def cache_dir():
    """The user cache for downloaded data: ``$XDG_CACHE_HOME/mnistbench`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnistbench"


def search_dirs(source, data_dir=None, env_dir=None):
    """Directories searched for ``source``, in order (each also with a ``<name>/`` sub-folder)."""
    roots = [Path(d) for d in (data_dir, env_dir) if d]
    if source.system_dir is not None:
        roots.append(source.system_dir)
    if source.packaged:
        roots.append(PACKAGE_DATA)
    roots.append(cache_dir())
    return [path for root in roots for path in (root, root / source.name)]


def check_data_dir(source, data_dir):
    """Raise :class:`DataError` if a directory the user named cannot hold ``source``: it does
    not exist, or it (or its ``<name>/`` sub-folder) has some of the IDX files but not all."""
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    for directory in (data_dir, data_dir / source.name):
        present = [part for part in IDX_PARTS
                   if (directory / f"{part}.gz").is_file() or (directory / part).is_file()]
        if present and find_files(source, directory) is None:
            missing = ", ".join(part for part in IDX_PARTS if part not in present)
            raise DataError(f"{directory} holds only part of {source.title}: missing {missing}")


def find_files(source, directory):
    """Return the paths of ``source``'s data in ``directory``: the four IDX files or one npz."""
    npz = directory / source.npz_name
    if npz.is_file():
        return npz
    found = {}
    for part in IDX_PARTS:
        for candidate in (directory / f"{part}.gz", directory / part):
            if candidate.is_file():
                found[part] = candidate
                break
    return found if len(found) == len(IDX_PARTS) else None


def load_idx_dataset(source, directories):
    """Load ``source`` from the first of ``directories`` that holds it, else download it."""
    for directory in directories:
        files = find_files(source, directory)
        if files is not None:
            return read_source(source, files, str(directory))
    if not source.mirrors:
        looked = ", ".join(str(d) for d in directories)
        raise DataError(f"{source.title} files not found; looked in {looked}")
    from mnistbench.datasets.download import download_idx_files

    target = cache_dir() / source.name
    return read_source(source, download_idx_files(source, target), str(target))


def read_source(source, files, where):
    """Read and verify ``files`` (a dict of IDX paths, or one npz path) into a :class:`Dataset`."""
    if isinstance(files, Path):
        dataset = make_dataset(source.name, *read_npz(files), source.class_names, where)
        if dataset.checksum != source.checksum:
            raise DataError(f"data file {files} does not hold the published {source.title} data "
                            f"(checksum {dataset.checksum}, expected {source.checksum})")
        return dataset
    arrays = (read_verified_idx(source, part, files[part]) for part in IDX_PARTS)
    return make_dataset(source.name, *arrays, source.class_names, where)


def read_verified_idx(source, part, path):
    """Read one IDX file after checking the MD5 of its uncompressed bytes."""
    data = read_bytes(path)
    digest = md5_hex(data)
    if digest != source.md5[part]:
        raise DataError(f"data file {path} fails its checksum (MD5 {digest}, published "
                        f"{source.md5[part]}): it is damaged or not {source.title}")
    return parse_idx(data, name=f"data file {path}")


def make_dataset(name, X_train, y_train, X_test, y_test, class_names, source):
    """Build a read-only :class:`Dataset`, checking that images and labels fit together."""
    arrays = []
    for split, images, labels in (("train", X_train, y_train), ("test", X_test, y_test)):
        check_images_labels(images, labels, f"{name} ({split})")
        arrays += [_read_only(images), _read_only(labels.astype(np.int64))]
    return Dataset(name, *arrays, class_names=tuple(class_names),
                   checksum=arrays_checksum(*arrays), source=source)


def _read_only(array):
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def load_digits():
    """scikit-learn's 8x8 digits: the first 1,437 images train, the last 360 test.

    Pixel values 0-16 are rescaled to 0-255 so every dataset is uint8 with the same range; with
    the default 10% holdout this gives the 1,293 / 144 / 360 split of the classic KNN study.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    n_train = len(images) - 360
    return make_dataset("digits", images[:n_train], bunch.target[:n_train], images[n_train:],
                        bunch.target[n_train:], DIGIT_NAMES, "sklearn.datasets.load_digits")
