"""Milliseconds per batch of the ``best``/``deep`` presets' distortion: Keras' random image layers
(rotation, translation, shear, zoom) on the backend ``KERAS_BACKEND`` names, against the NumPy
warp the CNN trains with (:func:`mnistbench.classifiers.cnn.distort_batch`).

    for backend in tensorflow jax torch; do
        KERAS_BACKEND=$backend python benchmarks/distortion_speed.py; done

Each prints one JSON line: the median of ``ROUNDS`` batches of 128 MNIST-sized images, after
a warm-up call (TensorFlow runs the layers as a graph, as ``tf.data`` did; JAX and PyTorch
eagerly, as their data pipelines would).
"""

import json
import os
import time

import numpy as np

BATCH = 128
ROUNDS = 10


def keras_layers():
    """The distortion the presets used before: Keras 3's random image layers."""
    import keras
    from keras import layers

    return keras.Sequential([
        layers.RandomRotation(10 / 360, fill_mode="constant", seed=0),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=0),
        layers.RandomShear(0.1, 0.1, fill_mode="constant", seed=0),
        layers.RandomZoom(0.1, fill_mode="constant", seed=0)])


def median_ms(call, images):
    call(images)
    seconds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        np.asarray(call(images))
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds) * 1e3)


def main():
    import keras

    from mnistbench.classifiers.cnn import distort_batch

    images = np.random.default_rng(0).random((BATCH, 28, 28, 1), dtype=np.float32)
    distort = keras_layers()
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        call = tf.function(lambda batch: distort(batch, training=True))
    else:
        call = lambda batch: keras.ops.convert_to_numpy(distort(batch, training=True))  # noqa: E731
    rng = np.random.default_rng(0)
    print(json.dumps({"backend": keras.config.backend(), "batch": BATCH,
                      "keras_layers_ms": median_ms(call, images),
                      "numpy_warp_ms": median_ms(lambda batch: distort_batch(batch, rng), images),
                      "load": os.getloadavg()}))


if __name__ == "__main__":
    main()
