"""The scikit-learn contract, checked over every registered algorithm (and a scikit-learn
classifier of no adapter's, wrapped) on tiny data."""

import numpy as np
import pytest
from sklearn.base import clone

from conftest import EXTERNAL, TINY
from mnistbench.classifiers.registry import algorithm_names, get_classifier


NAMES = algorithm_names() + [EXTERNAL]


def own_params(classifier):
    """The parameters ``get_classifier`` takes back: a wrapped estimator's are its own."""
    wrapped = classifier.get_params(deep=False).get("estimator")
    return (classifier if wrapped is None else wrapped).get_params(deep=False)


@pytest.fixture(params=NAMES)
def fitted(request, tiny_fit):
    """``(name, classifier, what fit returned)``, fitted once per session (none of these tests
    changes it)."""
    return request.param, *tiny_fit(request.param)


def test_fit_returns_self(fitted):
    _, classifier, returned = fitted
    assert returned is classifier
    assert classifier.classes_.tolist() == list(range(10))
    assert classifier.n_features_in_ == 64


def test_predict_proba_and_score(fitted, digits):
    _, classifier, _ = fitted
    predictions = classifier.predict(digits.X_test)
    assert predictions.shape == (360,) and set(predictions) <= set(range(10))
    proba = classifier.predict_proba(digits.X_test)
    assert proba.shape == (360, 10) and (proba >= 0).all()
    # the runner stores predict's labels beside these probabilities: they must agree
    np.testing.assert_array_equal(predictions, classifier.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    score = classifier.score(digits.X_test, digits.y_test)
    assert 0.5 < score <= 1  # far above chance (0.1) on digits
    assert score == pytest.approx(np.mean(predictions == digits.y_test))


def test_flat_and_image_inputs_agree(fitted, digits):
    _, classifier, _ = fitted
    flat = digits.X_test.reshape(360, 64)
    np.testing.assert_array_equal(classifier.predict(flat), classifier.predict(digits.X_test))
    with pytest.raises(ValueError, match="64"):
        classifier.predict(np.zeros((2, 28, 28), np.uint8))


@pytest.mark.parametrize("shape", [(4, 16), (2, 32), (2, 4, 8), (28, 28), (8, 8, 3)])
def test_images_of_another_shape_are_refused_naming_both_shapes(fitted, digits, shape):
    _, classifier, _ = fitted
    assert classifier.image_shape_ == (8, 8)
    other = np.zeros((3, *shape), np.uint8)
    expected = "x".join(map(str, shape))
    for method in (classifier.predict, classifier.predict_proba):
        with pytest.raises(ValueError, match=f"fitted on 8x8 images .* on {expected} images"):
            method(other)
        with pytest.raises(ValueError, match="8x8"):
            method(other.astype(np.float64))


def test_a_single_channel_axis_first_or_last_is_dropped(fitted, digits):
    _, classifier, _ = fitted
    images = digits.X_test[:30]
    expected = classifier.predict_proba(images)
    np.testing.assert_array_equal(classifier.predict_proba(images[..., None]), expected)
    np.testing.assert_array_equal(classifier.predict_proba(images[:, None]), expected)
    np.testing.assert_array_equal(classifier.predict_proba(images.reshape(30, 64)), expected)


def test_clone_and_params_round_trip(fitted):
    name, classifier, _ = fitted
    twin = clone(classifier)
    # a wrapped estimator is compared by its parameters, which get_params lists too
    assert {key: value for key, value in twin.get_params().items() if key != "estimator"} == {
        key: value for key, value in classifier.get_params().items() if key != "estimator"}
    assert not hasattr(twin, "classes_")
    assert type(get_classifier(name, **own_params(twin))) is type(classifier)


def test_unfitted_model_refuses_to_predict(fitted, digits):
    name, _, _ = fitted
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        get_classifier(name).predict(digits.X_test)


def test_string_labels_are_kept(digits):
    for name in NAMES:
        labels = np.array(["zero one two three four five six seven eight nine".split()])[0]
        classifier = get_classifier(name, **TINY.get(name, {}))
        classifier.fit(digits.X_train[:400], labels[digits.y_train[:400]])
        assert set(classifier.predict(digits.X_test[:20])) <= set(labels)


def test_a_channel_axis_is_dropped_in_fit_and_a_flat_fit_takes_any_image_of_its_pixels(digits):
    images, labels = digits.X_train[:300], digits.y_train[:300]
    channel_last = get_classifier("tree", random_state=0).fit(images[..., None], labels)
    channel_first = get_classifier("tree", random_state=0).fit(images[:, None], labels)
    flat = get_classifier("tree", random_state=0).fit(images.reshape(300, 64), labels)
    assert channel_last.image_shape_ == channel_first.image_shape_ == (8, 8)
    assert flat.image_shape_ is None  # rows carry no shape: the pixel count decides
    expected = channel_last.predict(digits.X_test)
    np.testing.assert_array_equal(channel_first.predict(digits.X_test), expected)
    np.testing.assert_array_equal(flat.predict(digits.X_test.reshape(-1, 4, 16)), expected)
    with pytest.raises(ValueError, match="grey-level images .* shape 8x8x3"):
        get_classifier("tree").fit(np.zeros((20, 8, 8, 3)), np.arange(20) % 2)
    with pytest.raises(ValueError, match="64 features"):
        flat.predict(np.zeros((2, 28, 28), np.uint8))
