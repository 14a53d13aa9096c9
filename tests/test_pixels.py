"""Pixel scale: 0-255 grey levels and [0, 1] intensities are the same images to every adapter;
values no image can hold are a ValueError."""

import numpy as np
import pytest

from conftest import TINY
from mnistbench.classifiers.base import grey_levels
from mnistbench.classifiers.registry import algorithm_names, get_class, get_classifier


def fit_seeded(name, X, y):
    seed = {"random_state": 0} if "random_state" in get_class(name)().get_params() else {}
    return get_classifier(name, **TINY.get(name, {}), **seed).fit(X, y)


@pytest.mark.parametrize("name", algorithm_names())
def test_images_in_0_1_are_the_same_images_as_in_0_255(name, digits, tiny_fit):
    model, _ = tiny_fit(name)  # fit_seeded on these images, fitted once for the session
    on_unit = fit_seeded(name, digits.X_train / 255, digits.y_train)  # what write-ups do first
    expected = model.predict_proba(digits.X_test)
    for X in (digits.X_test / 255, digits.X_test.astype(np.float32) / np.float32(255),
              digits.X_test.astype(np.float64)):
        np.testing.assert_array_equal(model.predict_proba(X), expected)
        np.testing.assert_array_equal(on_unit.predict_proba(X), expected)
    np.testing.assert_array_equal(on_unit.predict(digits.X_test[:1] / 255),
                                  model.predict(digits.X_test[:1]))


def test_each_image_is_read_on_its_own_scale():
    X = np.array([[0.0, 0.5, 1.0], [0.0, 0.5, 2.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    levels = grey_levels(X, "test")
    np.testing.assert_array_equal(levels, [[0, 127.5, 255], [0, 0.5, 2], [0, 0, 0]])
    assert levels.dtype == np.float32 and X[0, 2] == 1  # the caller's array is left alone
    np.testing.assert_array_equal(grey_levels(np.array([[True, False]]), "test"), [[255, 0]])
    assert grey_levels(np.array([[3, 255]], dtype=np.int64), "test").dtype == np.uint8


@pytest.mark.parametrize("value, message", [
    (np.nan, r"^NaN in data passed to DecisionTree; pixels must be grey levels"),
    (np.inf, r"Values above 255 in data passed to DecisionTree \(largest inf\)"),
    (-np.inf, r"Negative values in data passed to DecisionTree \(smallest -inf\)"),
    (-1.0, r"Negative values in data passed to DecisionTree \(smallest -1.0\); pixels must "
           r"be grey levels in \[0, 255\] or intensities in \[0, 1\]"),
    (256, r"Values above 255 in data passed to DecisionTree \(largest 256"),
])
def test_values_no_image_holds_are_a_value_error(value, message, digits):
    bad = digits.X_test[:2].astype(np.float64)
    bad[1, 3, 3] = value
    tree = get_classifier("tree").fit(digits.X_train, digits.y_train)
    with pytest.raises(ValueError, match=message):
        tree.predict(bad)
    with pytest.raises(ValueError, match=message):
        get_classifier("tree").fit(bad, [0, 1])
