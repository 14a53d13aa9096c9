"""The CNN on Keras' three backends: fit and predict under JAX and PyTorch (each in a process of
its own, as Keras reads its backend once per process), models saved on one backend loaded on
another, the refusals (a missing extra, a process on another backend), the NumPy distortion.

``MNISTBENCH_REQUIRE_JAX=1`` (and ``MNISTBENCH_REQUIRE_TORCH=1``) make the tests of that backend
fail when it is not installed, instead of skipping them: CI sets both. The tests that start
those processes are marked ``backends``: out of the default run, which they would slow by a
minute; CI runs them after it.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mnistbench
from conftest import TINY
from mnistbench.classifiers import backends
from mnistbench.classifiers.cnn import CNN, distort_batch
from mnistbench.classifiers.registry import get_classifier
from mnistbench.errors import ParameterError

OTHER_BACKENDS = ("jax", "torch")
TINY_FIT = {**TINY["cnn"], "random_state": 0, "device": "cpu"}


def require(backend):
    """Skip unless ``backend``'s framework is installed, or fail where it is required."""
    if importlib.util.find_spec(backend) is None:
        message = f"{backend} is not installed (pip install 'mnistbench[{backend}]')"
        if os.environ.get(f"MNISTBENCH_REQUIRE_{backend.upper()}") == "1":
            pytest.fail(message)
        pytest.skip(message)


# Run under KERAS_BACKEND in a fresh interpreter: load the TensorFlow model, fit a model of
# this backend and save it, and say what came out, as JSON on the last line.
CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import mnistbench
    from mnistbench.classifiers.registry import get_classifier
    from mnistbench.datasets import load_dataset

    backend, tensorflow_model, saved, params = sys.argv[1], sys.argv[2], sys.argv[3], \\
        json.loads(sys.argv[4])
    data = load_dataset("digits")
    loaded = mnistbench.load_model(tensorflow_model)
    model = get_classifier("cnn", backend=backend, **params).fit(data.X_train, data.y_train)
    mnistbench.save_model(model, saved)
    print(json.dumps({
        "loaded_backend": loaded.backend_,
        "loaded_proba": loaded.predict_proba(data.X_test).tolist(),
        "backend": model.backend_, "device": model.device_,
        "environment": model.process_environment(),
        "accuracy": model.score(data.X_test, data.y_test),
        "batch": model.predict(data.X_test).tolist(),
        "single": [int(model.predict(image[None])[0]) for image in data.X_test[:20]],
        "numpy_path": model._numpy_forward is not None,
        "proba": model.predict_proba(data.X_test).tolist()}))
""")


@pytest.fixture(scope="module")
def tensorflow_model(digits, tmp_path_factory):
    """A tiny TensorFlow CNN, fitted here and saved: ``(model, directory)``."""
    model = get_classifier("cnn", **TINY_FIT).fit(digits.X_train, digits.y_train)
    directory = tmp_path_factory.mktemp("tensorflow") / "cnn"
    mnistbench.save_model(model, directory)
    return model, directory


@pytest.fixture(scope="module")
def on_backend(tensorflow_model, tmp_path_factory):
    """``on_backend(name)``: what the child process reported on ``name`` (run once), with the
    directory of the model it fitted and saved under ``"saved"``."""
    cache = {}

    def run(backend):
        require(backend)
        if backend not in cache:
            saved = tmp_path_factory.mktemp(backend) / "cnn"
            # the process the model asks for, as a runner starts it
            needed = CNN(backend=backend, device=TINY_FIT["device"]).process_environment()
            environment = {**os.environ, **needed, "PYTHONPATH": os.pathsep.join(sys.path)}
            finished = subprocess.run(
                [sys.executable, "-c", CHILD, backend, str(tensorflow_model[1]), str(saved),
                 json.dumps(TINY_FIT)], capture_output=True, text=True, env=environment)
            assert finished.returncode == 0, finished.stderr[-3000:]
            cache[backend] = {**json.loads(finished.stdout.strip().splitlines()[-1]),
                              "saved": saved}
        return cache[backend]

    return run


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_fits_and_predicts_in_a_process_of_its_backend(backend, on_backend, digits):
    result = on_backend(backend)
    assert (result["backend"], result["device"]) == (backend, "cpu")
    hidden_gpus = {"CUDA_VISIBLE_DEVICES": ""} if backend == "torch" else {}
    assert result["environment"] == {"KERAS_BACKEND": backend, **hidden_gpus}
    assert result["accuracy"] > 0.5
    # one image takes the NumPy pass and gets the label it gets in a batch
    assert result["numpy_path"]
    assert result["single"] == result["batch"][:20]


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_a_tensorflow_model_loads_on(backend, on_backend, tensorflow_model, digits):
    result = on_backend(backend)
    assert result["loaded_backend"] == backend
    expected = tensorflow_model[0].predict_proba(digits.X_test)
    np.testing.assert_allclose(result["loaded_proba"], expected, atol=2e-2)
    agreement = np.mean(np.argmax(result["loaded_proba"], axis=1) == expected.argmax(axis=1))
    assert agreement > 0.99  # bfloat16 rounding may flip a near tie


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_a_model_fitted_on_loads_on_tensorflow(backend, on_backend, digits):
    result = on_backend(backend)
    loaded = mnistbench.load_model(result["saved"])
    assert loaded.backend_ == "tensorflow" and loaded.get_params()["backend"] == "tensorflow"
    np.testing.assert_allclose(loaded.predict_proba(digits.X_test), result["proba"], atol=2e-2)


def test_device_cpu_and_the_tensorflow_summary(tensorflow_model):
    model = tensorflow_model[0]
    assert (model.backend_, model.device_) == ("tensorflow", "cpu")
    assert model.chosen_params_["precision"] == backends_policy()


def backends_policy():
    from mnistbench.classifiers.cnn import cpu_has_bfloat16

    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"


def test_a_job_on_another_backend_needs_a_process_started_for_it():
    # this process runs Keras on TensorFlow (the tests above imported it)
    assert backends.keras_backend() == "tensorflow"
    assert backends.job_environment(CNN()) == {}
    assert backends.job_environment(CNN(backend="jax")) == {"KERAS_BACKEND": "jax"}
    assert backends.job_environment(CNN(backend="torch", device="cpu")) == {
        "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    assert backends.job_environment(get_classifier("knn")) == {}


def test_fit_refuses_a_backend_this_process_does_not_run(digits):
    require("jax")
    model = CNN(backend="jax", epochs=1)
    with pytest.raises(ParameterError, match="KERAS_BACKEND=jax") as refused:
        model.fit(digits.X_train[:50], digits.y_train[:50])
    assert "\n" not in str(refused.value)
    assert not hasattr(model, "model_")


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    found = importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec",
                        lambda name, *args: None if name == "jax" else found(name, *args))
    with pytest.raises(ParameterError) as missing:
        get_classifier("cnn", backend="jax")
    assert str(missing.value) == ("the jax backend needs jax, which is not installed: "
                                  "pip install 'mnistbench[jax]'")


@pytest.mark.parametrize("params", [{"backend": "mxnet"}, {"device": "gpu"}])
def test_unknown_backends_and_devices_are_refused(params):
    with pytest.raises(ParameterError, match=next(iter(params))):
        get_classifier("cnn", **params)


class Highest:
    """A stand-in generator whose every draw is the top of its range."""

    def uniform(self, low, high, size):
        return np.broadcast_to(np.asarray(high, dtype=float), np.shape(np.zeros(size)))


def test_distortion_with_no_range_leaves_images_as_they_are():
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    same = distort_batch(images, np.random.default_rng(1), degrees=0, shift=0, shear=0, zoom=0)
    np.testing.assert_array_equal(same, images)


def test_distortion_rotates_as_scipy_does():
    from scipy import ndimage

    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1  # a bar, so that a rotation shows
    turned = distort_batch(image[None, ..., None], Highest(), shift=0, shear=0, zoom=0)[0, ..., 0]
    expected = ndimage.rotate(image, -10, reshape=False, order=1, mode="constant")
    np.testing.assert_allclose(turned, expected, atol=1e-4)


def test_distortion_is_seeded_and_stays_in_range():
    images = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    first = distort_batch(images, np.random.default_rng(5))
    np.testing.assert_array_equal(first, distort_batch(images, np.random.default_rng(5)))
    assert first.shape == images.shape and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 1 + 1e-6
    assert not np.allclose(first, images)
