import gzip

import numpy as np
import pytest

from conftest import idx_bytes, write_idx
from mnistbench.errors import DataError
from mnistbench.datasets.readers import parse_idx, read_idx, read_npz


def test_idx_round_trip_gzip_and_raw(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        path = write_idx(tmp_path / f"x{compress}", images, compress=compress)
        np.testing.assert_array_equal(read_idx(path), images)


@pytest.mark.parametrize("mutate, message", [
    (lambda data: b"\x01" + data[1:], "bad magic number"),
    (lambda data: data[:2] + b"\x0d" + data[3:], "only unsigned bytes"),
    (lambda data: data[:-5], "is truncated"),
    (lambda data: data + b"\x00", "longer than its header says"),
    (lambda data: data[:6], "truncated or empty IDX header"),
])
def test_malformed_idx_is_one_clear_error(mutate, message):
    data = idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))
    with pytest.raises(DataError, match=message):
        parse_idx(mutate(data), name="f")


def test_truncated_gzip_names_file(tmp_path):
    path = tmp_path / "images.gz"
    noise = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    path.write_bytes(gzip.compress(idx_bytes(noise))[:1000])
    with pytest.raises(DataError, match=r"images\.gz is a damaged or truncated gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope")


def npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_round_trip(tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    y = np.arange(4, dtype=np.uint8)
    arrays = read_npz(npz(tmp_path / "m.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2]))
    assert [a.shape for a in arrays] == [(4, 28, 28), (4,), (2, 28, 28), (2,)]


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": np.zeros((4, 2, 2), np.uint8)}, "lacks the arrays y_train, x_test, y_test"),
    ({"x_train": np.zeros((4, 2, 2), np.float32), "y_train": np.zeros(4, int),
      "x_test": np.zeros((1, 2, 2), np.uint8), "y_test": np.zeros(1, int)}, "must be uint8"),
    ({"x_train": np.zeros((4, 2, 2), np.uint8), "y_train": np.zeros(3, int),
      "x_test": np.zeros((1, 2, 2), np.uint8), "y_test": np.zeros(1, int)},
     "has 4 images but 3 labels"),
    ({"x_train": np.zeros((4, 2, 2), np.uint8), "y_train": np.zeros(4, float),
      "x_test": np.zeros((1, 2, 2), np.uint8), "y_test": np.zeros(1, int)},
     "labels must be a vector of integers"),
])
def test_malformed_npz(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message):
        read_npz(npz(tmp_path / "m.npz", **arrays))


def test_not_an_npz(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        read_npz(path)
