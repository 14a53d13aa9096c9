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


def test_candidate_selection_equals_a_full_partition():
    rng = np.random.default_rng(0)
    approx = rng.random((130, 6000), dtype=np.float32)
    approx[1] = 0.5  # every value ties: far more than 16 m survive the threshold
    approx[2, :375] += 10  # the sample holds only large values: nearly everything survives
    approx[3, 375:] += 10  # ... only small ones: fewer than m survive
    m = 20
    chosen = knn_module.top_candidates(approx, m)
    assert chosen.shape == (130, m)
    for row in range(130):
        assert len(set(chosen[row])) == m
        np.testing.assert_array_equal(np.sort(approx[row, chosen[row]]),
                                      np.sort(approx[row])[:m])


def test_exhaustive_fallback_keeps_results_exact(digits, monkeypatch):
    # scramble the float32 pre-selection, and inflate the error bound so that the proof
    # fails for every query: only the exhaustive float64 search can still get them right
    monkeypatch.setattr(knn_module, "UNIT_ROUNDOFF", 1e-3)
    model = KNN(k=5).fit(digits.X_train, digits.y_train)
    noise = np.random.default_rng(0).normal(0, 1e5, len(digits.X_train)).astype(np.float32)
    model.index_.T[:, -1] += noise
    expected, _ = sklearn_knn(5, digits.X_train, digits.y_train, digits.X_test)
    np.testing.assert_array_equal(model.predict(digits.X_test), expected)


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
