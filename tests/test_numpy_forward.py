"""The NumPy inference pass equals the Keras network (float32 or bfloat16), layer types it lacks
make it decline, and the CNN adapter gives one image the same prediction as in a batch."""

import numpy as np
import pytest


pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from mnistbench.classifiers import cnn  # noqa: E402
from mnistbench.classifiers.numpy_forward import numpy_forward  # noqa: E402


def with_random_statistics(model, rng):
    """Batch-norm layers with random scale, shift, mean and variance, so that they matter."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 2, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model


ARCHITECTURES = ("fast", "normed", "small", "strided", "deep")


@pytest.mark.parametrize("architecture, shape", [
    *[(architecture, (side, side)) for architecture in ARCHITECTURES for side in (28, 8)],
    ("fast", (1, 5)), ("fast", (1, 40))])  # rows that are not squares: one row of pixels
@pytest.mark.parametrize("policy, tolerance", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_equals_the_keras_network(architecture, shape, policy, tolerance):
    rng = np.random.default_rng(0)
    images = rng.random((4, *shape, 1), dtype=np.float32)
    model = with_random_statistics(cnn.build_network(architecture, shape, 10, policy), rng)
    forward = numpy_forward(model)
    assert forward is not None
    expected = np.asarray(model(images, training=False))
    np.testing.assert_allclose(forward(images), expected, rtol=tolerance, atol=tolerance / 10)
    np.testing.assert_allclose(forward(images[:1]), expected[:1], rtol=tolerance,
                               atol=tolerance / 10)


def test_same_padding_with_odd_sizes_and_strides():
    from keras import layers

    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((9, 7, 2)),
                              layers.Conv2D(4, (3, 5), strides=(2, 3), padding="same"),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3)])
    images = rng.normal(size=(2, 9, 7, 2)).astype(np.float32)
    np.testing.assert_allclose(numpy_forward(model)(images),
                               np.asarray(model(images, training=False)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [
    lambda layers: layers.AveragePooling2D(2),
    lambda layers: layers.Conv2D(4, 3, dilation_rate=2),
    lambda layers: layers.Conv2D(4, 3, activation="tanh"),
    lambda layers: layers.MaxPooling2D(3, strides=1),
    lambda layers: layers.ReLU(max_value=6)])
def test_declines_what_it_does_not_implement(layer):
    from keras import layers

    model = keras.Sequential([keras.Input((12, 12, 1)), layer(layers), layers.Flatten(),
                              layers.Dense(2)])
    assert numpy_forward(model) is None


def test_cnn_predicts_one_image_as_in_a_batch(digits, tiny_fit):
    # the tiny CNN trains in bfloat16 where the CPU has it: then both passes round to bfloat16
    # and differ only by the order of float32 additions, which bfloat16's 8-bit significand
    # (a relative step of 2^-8) turns into up to about 1% on two nearly tied classes
    model, _ = tiny_fit("cnn")
    more = cnn.NUMPY_ROWS + 1
    assert model.predict_proba(digits.X_test[:more]).shape == (more, 10)
    batch = model.predict_proba(digits.X_test)
    singles = np.concatenate([model.predict_proba(image[None]) for image in digits.X_test])
    np.testing.assert_allclose(singles, batch, atol=1e-2)
    # so the label is the same wherever the batch's two most probable classes are further
    # apart than that; a near tie may fall either way
    top_two = np.sort(batch, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 2e-2
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(singles.argmax(axis=1)[clear], batch.argmax(axis=1)[clear])
    assert model._numpy_forward  # the single images did take the NumPy pass
