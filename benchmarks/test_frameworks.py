"""Our predict against the framework's own, on the same fitted model, in the same run.

Targets: single-image ``predict`` of ``cnn`` at most 1/100 of Keras ``model.predict`` on one
image; batch prediction of the test subset at least as fast as the framework's own batch
predict (5% allowed for noise) for every adapter that wraps a framework model.
"""

import numpy as np
import pytest

from conftest import flat32
from mnistbench.classifiers.neural import scaled
from mnistbench.classifiers.registry import get_classifier

ONE_EPOCH = {"epochs": 1, "random_state": 0}  # accuracy is not the point here: speed is


@pytest.fixture(scope="module")
def models(quick):
    X_train, y_train, _, _ = quick
    return {name: get_classifier(name, **params).fit(X_train, y_train) for name, params in (
        ("tree", {"random_state": 0}), ("mlp", ONE_EPOCH), ("tf-mlp", ONE_EPOCH),
        ("cnn", ONE_EPOCH))}


def framework_batch_predict(name, model, X):
    """The wrapped framework's own batch predict, from the same uint8 images (scaling included,
    as in ours)."""
    if name == "tree":
        return lambda: model.model_.predict(flat32(X))
    if name == "mlp":
        return lambda: model.model_.predict(scaled(X.reshape(len(X), -1)))
    if name == "cnn":
        return lambda: model.model_.predict(scaled(X)[..., None], verbose=0)
    import tensorflow as tf

    from mnistbench.classifiers.tf_mlp import forward

    weights = [tf.constant(w) for w in model.weights_]
    return lambda: tf.nn.softmax(forward(
        weights, tf.constant(scaled(X.reshape(len(X), -1))))).numpy()  # eager TensorFlow


@pytest.mark.parametrize("name", ["tree", "mlp", "tf-mlp", "cnn"])
@pytest.mark.parametrize("role", ["anchor", "ours"])
def test_batch_predict(benchmark, models, mnist, name, role):
    X_test = mnist.X_test
    model = models[name]
    run = framework_batch_predict(name, model, X_test) if role == "anchor" else \
        (lambda: model.predict(X_test))
    benchmark.group = f"{name} batch predict: 10,000 test images"
    benchmark.extra_info.update(role=role)
    if role == "ours":
        benchmark.extra_info.update(max_ratio=1.05)
    benchmark.pedantic(run, rounds=7, warmup_rounds=2)


def test_cnn_single_image_keras_predict(benchmark, models, quick):
    image = scaled(quick[2][:1])[..., None]
    benchmark.group = "cnn single image"
    benchmark.extra_info.update(role="anchor", note="Keras model.predict")
    benchmark.pedantic(models["cnn"].model_.predict, args=(image,), kwargs={"verbose": 0},
                       rounds=30, warmup_rounds=3)


def test_cnn_single_image_keras_call(benchmark, models, quick):
    image = scaled(quick[2][:1])[..., None]
    benchmark.group = "cnn single image"
    benchmark.extra_info.update(role="other", note="calling the Keras model directly")
    benchmark.pedantic(lambda: np.asarray(models["cnn"].model_(image, training=False)),
                       rounds=100, warmup_rounds=5)


def test_cnn_single_image_ours(benchmark, models, quick):
    benchmark.group = "cnn single image"
    benchmark.extra_info.update(role="ours", max_ratio=0.01)
    benchmark(models["cnn"].predict, quick[2][:1])
