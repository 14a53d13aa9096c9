import shutil

import numpy as np
import pytest

from conftest import write_idx
from mnistbench.datasets import sources as datasets
from mnistbench.datasets.sources import IDX_PARTS, PACKAGE_DATA, holdout_split, load_dataset
from mnistbench.errors import DataError, ParameterError


def test_mnist_ships_with_the_package_and_is_verified(mnist):
    assert mnist.X_train.shape == (60000, 28, 28) and mnist.X_test.shape == (10000, 28, 28)
    assert mnist.X_train.dtype == np.uint8 and mnist.y_train.dtype == np.int64
    assert np.bincount(mnist.y_test).tolist()[:3] == [980, 1135, 1032]
    assert mnist.checksum == datasets.MNIST.checksum
    assert not mnist.X_train.flags.writeable


def test_digits_split_matches_the_classic_study(digits):
    X_fit, _, X_val, _ = digits.validation_split()
    assert (len(X_fit), len(X_val), len(digits.X_test)) == (1293, 144, 360)
    assert digits.X_train.max() == 255 and digits.X_train.shape[1:] == (8, 8)


def test_holdout_is_the_tail_of_the_training_set():
    X, y = np.arange(100), np.arange(100) % 10
    X_fit, _, X_val, _ = holdout_split(X, y, 0.1)
    assert X_val.tolist() == list(range(90, 100)) and len(X_fit) == 90
    with pytest.raises(ParameterError):
        holdout_split(X, y, 1.5)


def copy_mnist(directory):
    directory.mkdir(parents=True, exist_ok=True)
    for part in IDX_PARTS:
        shutil.copy(PACKAGE_DATA / "mnist" / f"{part}.gz", directory)
    return directory


def test_data_dir_is_searched_first_and_corruption_is_named(tmp_path):
    directory = copy_mnist(tmp_path / "mnist")
    labels = np.zeros(10000, dtype=np.uint8)
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz fails its checksum"):
        load_dataset("mnist", data_dir=tmp_path)


def test_keras_npz_is_accepted_and_checked(tmp_path, mnist):
    np.savez(tmp_path / "mnist.npz", x_train=mnist.X_train, y_train=mnist.y_train.astype(np.uint8),
             x_test=mnist.X_test, y_test=mnist.y_test.astype(np.uint8))
    loaded = load_dataset("mnist", data_dir=tmp_path)
    assert loaded.source == str(tmp_path) and loaded.checksum == mnist.checksum
    other = tmp_path / "other"
    other.mkdir()
    y_test = mnist.y_test.copy()
    y_test[0] = (y_test[0] + 1) % 10
    np.savez(other / "mnist.npz", x_train=mnist.X_train, y_train=mnist.y_train,
             x_test=mnist.X_test, y_test=y_test)
    with pytest.raises(DataError, match="does not hold the published MNIST data"):
        load_dataset("mnist", data_dir=other)


def test_a_data_dir_that_cannot_hold_the_dataset_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("fashion", data_dir=tmp_path / "nowhere")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataError, match="only part of.*missing train-labels-idx1-ubyte"):
        load_dataset("fashion", data_dir=tmp_path)


def test_unknown_dataset():
    with pytest.raises(ParameterError, match="choose from: digits, fashion, mnist"):
        load_dataset("cifar")


def test_fashion_found_in_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION", None)  # the registry entry is what counts
    source = datasets.IDX_SOURCES["fashion"]
    fake = {part: np.zeros((3, 28, 28) if "images" in part else (3,), np.uint8)
            for part in IDX_PARTS}
    for part, array in fake.items():
        write_idx(tmp_path / f"{part}.gz", array)
    md5 = {part: datasets.md5_hex(datasets.read_bytes(tmp_path / f"{part}.gz"))
           for part in IDX_PARTS}
    monkeypatch.setitem(datasets.IDX_SOURCES, "fashion",
                        datasets.IdxSource(**{**source.__dict__, "md5": md5}))
    data = load_dataset("fashion", data_dir=tmp_path)
    assert data.X_train.shape == (3, 28, 28) and data.class_names[9] == "Ankle boot"
