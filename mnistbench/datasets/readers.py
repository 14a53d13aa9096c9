"""Readers for the IDX format (gzip or raw) and Keras-style ``mnist.npz`` files.

Every malformed input raises :class:`~mnistbench.errors.DataError` with one sentence naming the
file; no numpy or zlib traceback reaches the user.
"""

import gzip
import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from mnistbench.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# the four files of an IDX dataset (MNIST and its relatives), by the names LeCun's site gave them
IDX_PARTS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def read_bytes(path):
    """Return the uncompressed bytes of ``path``, gunzipping it if it is gzip data.

    Parameters
    ----------
    path : str or pathlib.Path
        A raw or gzip-compressed file.

    Returns
    -------
    bytes
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc.strerror}") from None
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"data file {path} is a damaged or truncated gzip file ({exc})") from None


def read_json(path):
    """The JSON value in the file ``path``; DataError if the file is not JSON text."""
    try:
        return json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc})") from exc


def md5_hex(data):
    """Return the hex MD5 digest of ``data`` (used for integrity, not security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def parse_idx(data, name="IDX data"):
    """Parse the bytes of an unsigned-byte IDX file into a numpy array.

    Parameters
    ----------
    data : bytes
        Uncompressed file contents.
    name : str
        What to call the data in error messages (usually its path).

    Returns
    -------
    numpy.ndarray of uint8, with the shape stored in the header.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name} is not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != IDX_UBYTE:
        raise DataError(
            f"{name} holds IDX type 0x{dtype_code:02x}; only unsigned bytes (0x08) are supported"
        )
    header_end = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_end:
        raise DataError(f"{name} has a truncated or empty IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header_end + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{name} is {problem}: header {shape} needs {expected} bytes, file has {len(data)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(shape)


def read_idx(path):
    """Read an IDX file (gzip or raw) into a uint8 array; see :func:`parse_idx`."""
    return parse_idx(read_bytes(path), name=f"data file {path}")


def read_npz(path):
    """Read a Keras-style ``mnist.npz`` into ``(x_train, y_train, x_test, y_test)``.

    Images must be uint8 arrays of shape N×H×W and labels integer vectors of matching length.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    if not zipfile.is_zipfile(path):  # else np.load tries it as a pickle and says so
        raise DataError(f"data file {path} is not a readable .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise DataError(f"data file {path} lacks the arrays {', '.join(missing)}")
            arrays = tuple(npz[key] for key in NPZ_KEYS)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"data file {path} is not a readable .npz archive ({exc})") from None
    x_train, y_train, x_test, y_test = arrays
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        check_images_labels(images, labels, f"data file {path} ({split})")
    return arrays


def check_images_labels(images, labels, name):
    """Raise :class:`DataError` unless ``images`` (uint8, N×H×W) and ``labels`` (N ints) fit."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"{name} images must be uint8 of shape N×H×W, got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{name} labels must be a vector of integers, got {labels.dtype} "
                        f"{labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{name} has {len(images)} images but {len(labels)} labels")
