import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from mnistbench.classifiers import knn as knn_module
from mnistbench.classifiers.knn import KNN
from mnistbench.errors import ParameterError


def sklearn_knn(k, X_train, y_train, X_test):
    flat = lambda X: X.reshape(len(X), -1).astype(np.float64)  # noqa: E731
    model = KNeighborsClassifier(n_neighbors=k).fit(flat(X_train), y_train)
    return model.predict(flat(X_test)), model.predict_proba(flat(X_test))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 15])
def test_equals_scikit_learn_on_digits(digits, k):
    ours = KNN(k=k).fit(digits.X_train, digits.y_train)
    expected, expected_proba = sklearn_knn(k, digits.X_train, digits.y_train, digits.X_test)
    np.testing.assert_array_equal(ours.predict(digits.X_test), expected)
    np.testing.assert_allclose(ours.predict_proba(digits.X_test), expected_proba)


@pytest.mark.parametrize("k", [1, 4])
def test_equals_scikit_learn_on_an_mnist_slice(mnist, k):
    X_train, y_train = mnist.X_train[:5000], mnist.y_train[:5000]
    X_test = mnist.X_test[:1000]
    expected, _ = sklearn_knn(k, X_train, y_train, X_test)
    np.testing.assert_array_equal(KNN(k=k).fit(X_train, y_train).predict(X_test), expected)


def test_float_images_equal_scikit_learn(mnist):
    X_train, y_train = mnist.X_train[:5000] / 255.0, mnist.y_train[:5000]
    X_test = mnist.X_test[:500] / 255.0
    expected, _ = sklearn_knn(3, X_train, y_train, X_test)
    np.testing.assert_array_equal(KNN(k=3).fit(X_train, y_train).predict(X_test), expected)


def test_the_bound_never_exceeds_the_distance(mnist):
    # on the float32 product as computed, less the rounding margin: what the search relies on
    X_train = mnist.X_train[:3000].reshape(3000, -1)
    X_test = mnist.X_test[:300].reshape(300, -1)
    index = knn_module.Index(X_train, mnist.y_train[:3000])
    Q = X_test[:, index.pixels]
    # uint8 pixels: every product and partial sum below is an integer under 2**53, so the
    # float64 matrix product gives the squared distances exactly
    assert index.X.dtype == Q.dtype == np.uint8
    Qf, Xf = Q.astype(np.float64), index.X.astype(np.float64)
    exact = (Qf ** 2).sum(axis=1)[:, None] + (Xf ** 2).sum(axis=1)[None, :] - 2 * Qf @ Xf.T
    for bound in (index.bound, index.few_bound):
        rows, c_q, margin = bound.query(Q)
        lower = (rows @ bound.T[:len(index.X)].T) + c_q[:, None] - margin[:, None]
        assert (lower <= exact).all()
        assert np.median(lower / np.maximum(exact, 1)) > 0.5  # and it is a useful bound


@pytest.mark.parametrize("rows", [1, 40])  # the single-image route, and blocks
def test_weak_bounds_keep_results_exact(mnist, monkeypatch, rows):
    # one component and few groups: most training images survive the filter, and each
    # block has far more candidates than neighbours to rank
    monkeypatch.setattr(knn_module, "COMPONENTS", 1)
    monkeypatch.setattr(knn_module, "FEW_COMPONENTS", 1)
    monkeypatch.setattr(knn_module, "GROUPS", 40)
    monkeypatch.setattr(knn_module, "BLOCK_ROWS", 16)
    X_train, y_train = mnist.X_train[:4000], mnist.y_train[:4000]
    X_test = mnist.X_test[:rows]
    expected, _ = sklearn_knn(7, X_train, y_train, X_test)
    np.testing.assert_array_equal(KNN(k=7).fit(X_train, y_train).predict(X_test), expected)


def test_single_images_equal_the_batch(mnist):
    model = KNN(k=5).fit(mnist.X_train[:5000], mnist.y_train[:5000])
    X_test = mnist.X_test[:50]
    one_by_one = [model.predict_proba(X_test[i:i + 1])[0] for i in range(len(X_test))]
    np.testing.assert_array_equal(np.array(one_by_one), model.predict_proba(X_test))


def test_ties_between_classes_go_to_the_smallest_label():
    X = np.array([[10], [30], [0], [40]])
    y = np.array([7, 3, 7, 3])
    # the query at 20 has one 7 (distance 10) and one 3 (distance 10) among its 2 nearest
    assert KNN(k=2).fit(X, y).predict(np.array([[20]])).tolist() == [3]


def test_sweep_scores_every_k_on_the_holdout_only(digits):
    model = KNN(k=(1, 3, 5)).fit(digits.X_train, digits.y_train)
    X_fit, y_fit = digits.X_train[:1293], digits.y_train[:1293]
    X_val, y_val = digits.X_train[1293:], digits.y_train[1293:]
    for row in model.sweep_:
        expected, _ = sklearn_knn(row["k"], X_fit, y_fit, X_val)
        assert row["val_accuracy"] == pytest.approx(np.mean(expected == y_val))
    best = max(row["val_accuracy"] for row in model.sweep_)
    assert model.k_ == min(row["k"] for row in model.sweep_ if row["val_accuracy"] == best)
    # after the sweep, the whole training set (holdout included) is searched
    expected, _ = sklearn_knn(model.k_, digits.X_train, digits.y_train, digits.X_test)
    np.testing.assert_array_equal(model.predict(digits.X_test), expected)


@pytest.mark.parametrize("k", [0, -1, 2.5, "three", ()])
def test_bad_k_is_a_parameter_error(k, digits):
    with pytest.raises(ParameterError, match="k must be"):
        KNN(k=k).fit(digits.X_train, digits.y_train)


def test_a_sweep_scores_the_ks_the_images_left_allow(digits):
    model = KNN().fit(digits.X_train[:12], digits.y_train[:12])  # 11 left after the holdout
    assert [row["k"] for row in model.sweep_] == [1, 3, 5, 7, 9, 11]
    with pytest.raises(ParameterError, match="k=12 exceeds the 11 images left after"):
        KNN(k=(12, 15)).fit(digits.X_train[:12], digits.y_train[:12])


def test_k_larger_than_training_set():
    with pytest.raises(ParameterError, match="exceeds"):
        KNN(k=5).fit(np.zeros((3, 4)), [0, 1, 2])
