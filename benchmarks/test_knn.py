"""KNN against its arithmetic floor and against scikit-learn, on the full MNIST (slow)."""

import os
import tracemalloc

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from conftest import flat32
from mnistbench.classifiers.knn import KNN, Index, neighbour_labels, vote_counts

SWEEP = (1, 3, 5, 7, 9, 11, 13, 15)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full(mnist):
    return flat32(mnist.X_train), flat32(mnist.X_test)


def sweep_accuracies(index, X_test, y_test):
    """Test accuracy of every k in SWEEP from one neighbour search at the largest k."""
    votes = vote_counts(neighbour_labels(index, X_test, SWEEP[-1]), 10, SWEEP)
    return (votes.argmax(axis=2) == y_test[:, None]).mean(axis=0)


def load_average():
    return round(os.getloadavg()[0], 2)


def test_sweep_floor_matrix_product(benchmark, full):
    X_train, X_test = full
    benchmark.group = "knn sweep: 10,000 test x 60,000 train"
    benchmark.extra_info.update(role="floor", load_average_before=load_average())
    benchmark.pedantic(lambda: X_test @ X_train.T, rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(load_average_after=load_average())


def test_sweep_every_k(benchmark, mnist):
    index = Index(mnist.X_train.reshape(60000, -1), mnist.y_train)
    X_test = mnist.X_test.reshape(10000, -1)
    benchmark.group = "knn sweep: 10,000 test x 60,000 train"
    load_before = load_average()
    tracemalloc.start()
    accuracies = benchmark.pedantic(sweep_accuracies, args=(index, X_test, mnist.y_test),
                                    rounds=3, warmup_rounds=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    benchmark.extra_info.update(role="ours", max_ratio=0.5, peak_mb=round(peak / 2**20, 1),
                                index_mb=round(index.nbytes() / 2**20, 1),
                                load_average_before=load_before,
                                load_average_after=load_average(),
                                accuracy={str(k): float(a) for k, a in zip(SWEEP, accuracies)})
    assert peak < 2**30


def test_sweep_anchor_scikit_learn_single_k(benchmark, mnist, full):
    X_train, X_test = full
    model = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(X_train, mnist.y_train)
    benchmark.group = "knn sweep: 10,000 test x 60,000 train"
    benchmark.extra_info.update(role="anchor", note="scikit-learn, one k (3)")
    predictions = benchmark.pedantic(model.predict, args=(X_test,), rounds=1)
    benchmark.extra_info.update(accuracy=float((predictions == mnist.y_test).mean()))


def test_latency_floor_stream_training_set(benchmark, full):
    X_train, X_test = full
    benchmark.group = "knn single image: 60,000 train"
    benchmark.extra_info.update(role="floor")
    benchmark(lambda: X_train @ X_test[0])


def test_latency_knn_predict(benchmark, mnist):
    model = KNN(k=3).fit(mnist.X_train, mnist.y_train)
    benchmark.group = "knn single image: 60,000 train"
    benchmark.extra_info.update(role="ours", max_ms=1.0, load_average_before=load_average())
    benchmark(model.predict, mnist.X_test[:1])
    benchmark.extra_info.update(load_average_after=load_average())


def test_exactness_on_full_mnist(mnist, full):
    """Not a timing: for every k of the sweep, our predictions equal those from
    scikit-learn's brute-force neighbours (float64) on all 10,000 test images."""
    X_train, X_test = full
    reference = KNeighborsClassifier(n_neighbors=SWEEP[-1], algorithm="brute").fit(
        X_train.astype(np.float64), mnist.y_train)
    neighbours = reference.kneighbors(X_test.astype(np.float64), return_distance=False)
    expected = vote_counts(mnist.y_train[neighbours], 10, SWEEP).argmax(axis=2)
    index = Index(mnist.X_train.reshape(60000, -1), mnist.y_train)
    ours = vote_counts(neighbour_labels(index, mnist.X_test.reshape(10000, -1), SWEEP[-1]), 10,
                       SWEEP).argmax(axis=2)
    np.testing.assert_array_equal(ours, expected)
