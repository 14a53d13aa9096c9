"""The image transforms of the shift suite and of augmentation, on known images."""

import numpy as np
import pytest
from scipy import ndimage

from mnistbench.classifiers.registry import get_classifier
from mnistbench.datasets.transforms import (TRANSFORMS, apply_transform, augmented,
                                            parse_transforms)
from mnistbench.errors import ParameterError


def bar_image(size=28):
    """A known image: a 3-pixel-wide vertical bar with a foot, ink well away from the edges."""
    image = np.zeros((size, size), np.uint8)
    image[8:20, 12:15] = 255
    image[18:20, 9:18] = 180
    return image


@pytest.fixture
def images(mnist):
    return mnist.X_test[:50]


def centre_of_mass(image):
    return np.array(ndimage.center_of_mass(image.astype(float)))


def test_rot180_twice_is_the_identity_and_flips_both_axes(images):
    once = apply_transform("rot180", images)
    np.testing.assert_array_equal(apply_transform("rot180", once), images)
    np.testing.assert_array_equal(once, images[:, ::-1, ::-1])
    bar = bar_image()[None]
    assert apply_transform("rot180", bar)[0, 27 - 19, 27 - 9] == 180  # the foot, now on top


def test_invert_twice_is_the_identity(images):
    inverted = apply_transform("invert", images)
    assert inverted[0, 0, 0] == 255 and inverted.dtype == np.uint8
    np.testing.assert_array_equal(apply_transform("invert", inverted), images)


@pytest.mark.parametrize("name, pixels", [("shift2", 2), ("shift4", 4)])
def test_shift_moves_the_centre_of_mass_by_its_pixels(name, pixels):
    bar = bar_image()
    moved = apply_transform(name, bar[None])[0]
    np.testing.assert_allclose(centre_of_mass(moved) - centre_of_mass(bar), [pixels, pixels])
    assert moved.sum(dtype=int) == bar.sum(dtype=int)  # no ink lost


@pytest.mark.parametrize("degrees", [15, -15, 30, -30])
def test_small_rotations_turn_about_the_centre(degrees):
    bar = np.zeros((28, 28), np.uint8)
    bar[4:24, 13:15] = 255  # a vertical bar through the centre
    turned = apply_transform(f"rot{degrees}", bar[None])[0].astype(float)
    np.testing.assert_allclose(centre_of_mass(turned), centre_of_mass(bar), atol=0.3)
    rows, columns = np.nonzero(turned > 128)
    # counter-clockwise: the top of the bar leans left, so column falls as the row rises
    slope = np.polyfit(rows, columns, 1)[0]
    assert slope == pytest.approx(np.tan(np.radians(degrees)), abs=0.05)


def test_noise_is_seeded_and_has_its_sigma():
    grey = np.full((20, 28, 28), 128, np.uint8)
    first = apply_transform("noise0.1", grey, seed=7)
    np.testing.assert_array_equal(first, apply_transform("noise0.1", grey, seed=7))
    assert not np.array_equal(first, apply_transform("noise0.1", grey, seed=8))
    assert first.astype(float).std() == pytest.approx(0.1 * 255, rel=0.03)
    # sigma 0.3 reaches 0 and 255 (1.7 sigma away), whose clipping narrows the spread
    assert 0.26 * 255 < apply_transform("noise0.3", grey, seed=7).astype(float).std() < 0.3 * 255


def test_impulse_noise_sets_a_tenth_of_the_pixels_to_black_or_white():
    grey = np.full((20, 28, 28), 128, np.uint8)
    noisy = apply_transform("impulse", grey, seed=1)
    np.testing.assert_array_equal(noisy, apply_transform("impulse", grey, seed=1))
    assert (noisy == 0).mean() == pytest.approx(0.05, abs=0.005)
    assert (noisy == 255).mean() == pytest.approx(0.05, abs=0.005)
    assert ((noisy == 128) | (noisy == 0) | (noisy == 255)).all()


def test_thick_and_thin_strokes_grow_and_shrink_the_ink():
    bar = bar_image()[None]
    thick, thin = apply_transform("thick", bar)[0], apply_transform("thin", bar)[0]
    assert (thick > 0).sum() > (bar > 0).sum() > (thin > 0).sum() > 0
    assert ((thick >= bar) & (thin <= bar)).all()  # dilation only adds, erosion only removes
    assert (thin[10:17] == [0] * 12 + [0, 255, 0] + [0] * 13).all()  # a 3-wide bar keeps 1


def test_blur_spreads_the_ink_and_keeps_its_mass():
    bar = bar_image()[None].astype(np.float64)
    blurred = apply_transform("blur", bar)[0]
    assert (blurred > 0).sum() > (bar > 0).sum()
    assert blurred.sum() == pytest.approx(bar.sum(), rel=1e-3)
    np.testing.assert_allclose(centre_of_mass(blurred), centre_of_mass(bar[0]), atol=1e-3)


def test_shear_moves_rows_sideways_only():
    bar = bar_image()[None].astype(np.float64)
    sheared = apply_transform("shear", bar)[0]
    np.testing.assert_allclose(sheared.sum(axis=1), bar[0].sum(axis=1), rtol=1e-6, atol=1e-6)
    # an italic slant: each row moves 0.3 px left per row below the centre
    shift = centre_of_mass(sheared[17:20])[1] - centre_of_mass(sheared[8:11])[1]
    rows = centre_of_mass(bar[0, 17:20])[0] + 17 - centre_of_mass(bar[0, 8:11])[0] - 8
    assert shift == pytest.approx(-0.3 * rows, abs=0.15)


def test_scale_shrinks_about_the_centre():
    square = np.zeros((1, 28, 28), np.float64)
    square[0, 6:22, 6:22] = 255
    scaled = apply_transform("scale", square)[0]
    ink = np.argwhere(scaled > 127)
    assert ink.max(axis=0) - ink.min(axis=0) + 1 == pytest.approx([12, 12], abs=1)
    np.testing.assert_allclose(centre_of_mass(scaled), [13.5, 13.5], atol=1e-6)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_every_transform_keeps_shape_dtype_and_range(name, images):
    out = apply_transform(name, images, seed=3)
    assert out.shape == images.shape and out.dtype == np.uint8
    floats = apply_transform(name, images.astype(np.float32), seed=3)
    assert floats.dtype == np.float32 and 0 <= floats.min() and floats.max() <= 255
    assert np.abs(floats - out).max() <= 0.5 + 1e-4  # uint8 is the float result, rounded
    assert not np.array_equal(out, images)


def test_parse_transforms():
    assert parse_transforms("all") == list(TRANSFORMS)
    assert parse_transforms("none") == parse_transforms("") == parse_transforms(None) == []
    assert parse_transforms("blur, rot180,blur") == ["blur", "rot180"]
    assert parse_transforms(("rot180",)) == ["rot180"]
    with pytest.raises(ParameterError, match="unknown augmentation 'rot181'; choose from: rot180"):
        parse_transforms("rot181", "augmentation")


def test_augmented_appends_one_copy_per_name_in_the_same_layout(digits):
    X, y = digits.X_train.reshape(len(digits.X_train), -1), digits.y_train
    X2, y2 = augmented(X, y, "rot180,invert", seed=0)
    assert X2.shape == (3 * len(X), 64)
    np.testing.assert_array_equal(X2[:len(X)], X)
    np.testing.assert_array_equal(X2[len(X):2 * len(X)].reshape(-1, 8, 8),
                                  digits.X_train[:, ::-1, ::-1])
    np.testing.assert_array_equal(y2, np.tile(y, 3))
    with pytest.raises(ValueError, match="square images"):
        augmented(np.zeros((3, 10), np.uint8), np.arange(3), "rot180")


@pytest.mark.parametrize("name", ["knn", "tree", "mlp", "tf-softmax"])
def test_every_adapter_trains_on_the_augmented_set(name, digits, tiny_fit):
    """Trained on upright and rotated digits, a model reads rotated digits far better."""
    from conftest import TINY

    plain, _ = tiny_fit(name)  # the session's fit on the upright digits, with the same settings
    rotated = get_classifier(name, augment="rot180", **TINY.get(name, {}))
    rotated.fit(digits.X_train, digits.y_train)
    X_rot = apply_transform("rot180", digits.X_test)
    assert rotated.n_fit_images_ == 2 * plain.n_fit_images_
    assert rotated.score(X_rot, digits.y_test) > plain.score(X_rot, digits.y_test) + 0.2
    assert rotated.resolved_params_["augment"] == "rot180"


def test_the_holdout_stays_untransformed_unless_asked(digits):
    X = digits.X_train.reshape(len(digits.X_train), -1)
    knn = get_classifier("knn", augment="invert")
    X_fit, y_fit, X_val, y_val = knn._holdout(X, digits.y_train)
    n_val = len(X) - len(X_fit) // 2
    np.testing.assert_array_equal(X_val, X[-n_val:])
    np.testing.assert_array_equal(X_fit[len(X_fit) // 2:], 255 - X[:-n_val])
    knn.set_params(augment_holdout=True)
    _, _, X_val, y_val = knn._holdout(X, digits.y_train)
    assert len(X_val) == 2 * n_val
    np.testing.assert_array_equal(X_val[n_val:], 255 - X[-n_val:])


def test_a_bad_augment_is_refused_before_fitting():
    with pytest.raises(ParameterError, match="unknown augmentation 'spin'"):
        get_classifier("tree", augment="spin")
    with pytest.raises(ParameterError, match="augment_holdout must be True or False"):
        get_classifier("knn", augment_holdout="yes")


def test_a_model_pickled_before_augment_existed_loads_with_the_default(digits):
    import pickle

    tree = get_classifier("tree", max_depth=5, random_state=0)
    tree.fit(digits.X_train, digits.y_train)
    del tree.__dict__["augment"]  # as an object pickled by an older mnistbench
    loaded = pickle.loads(pickle.dumps(tree))
    assert loaded.get_params()["augment"] == "none"
    np.testing.assert_array_equal(loaded.predict(digits.X_test), tree.predict(digits.X_test))
