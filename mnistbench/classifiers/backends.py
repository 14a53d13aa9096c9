"""Which framework Keras runs on: the backends, their extras, devices, and the process a job needs.

Keras 3 runs one model on TensorFlow, JAX or PyTorch, but it reads its backend once per process,
from ``KERAS_BACKEND``, at the first ``import keras`` (which ``import tensorflow`` also does).
A process cannot switch. So an adapter with a ``backend`` parameter (the CNN) has a method
``process_environment()`` returning the environment variables its fit needs, such as
``{"KERAS_BACKEND": "jax"}``, and refuses to fit in a process whose Keras runs on another
backend (:func:`use_backend`).

A runner asks :func:`job_environment` before it runs a job: an empty dict means this process
can run it; otherwise the job runs in a child process started with those variables (the
child that :mod:`mnistbench.run.timeout` starts for ``--timeout``, given them in its
environment). Nothing here imports a framework at module level.
"""

import contextlib
import importlib.util
import os
import sys

import numpy as np

from mnistbench.errors import ParameterError

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"
EXTRAS = {"jax": "jax", "torch": "torch"}  # backend -> its module, installed by the extra of
# the same name; TensorFlow is a dependency of mnistbench itself
DEVICES = ("auto", "cpu")


def check_installed(backend):
    """Raise :class:`~mnistbench.errors.ParameterError` naming the extra to install when
    ``backend``'s framework is missing; nothing is imported."""
    module = EXTRAS.get(backend)
    if module is not None and importlib.util.find_spec(module) is None:
        raise ParameterError(f"the {backend} backend needs {module}, which is not installed: "
                             f"pip install 'mnistbench[{backend}]'")


def keras_backend():
    """The backend of Keras in this process: Keras' own answer once it is imported, else the
    one ``KERAS_BACKEND`` would give it (TensorFlow when unset)."""
    if "keras" in sys.modules:
        return sys.modules["keras"].config.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND)


def use_backend(backend, whom="this model"):
    """Make Keras run on ``backend`` in this process: set ``KERAS_BACKEND`` while Keras is not
    imported yet, else check that it already runs on ``backend``.

    Raises
    ------
    ParameterError
        If Keras already runs on another backend here; the message says how to fix it.
    """
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        return
    running = keras_backend()
    if running != backend:
        raise ParameterError(
            f"{whom} uses the {backend} backend, but Keras in this process already runs on "
            f"{running} (it reads KERAS_BACKEND once, at its first import): run it in a process "
            f"started with KERAS_BACKEND={backend}")


def loading_backend(saved):
    """The backend to load a network saved from ``saved`` on: the one Keras runs on in this
    process, or is told to run on by ``KERAS_BACKEND``; else ``saved``."""
    if "keras" in sys.modules or "KERAS_BACKEND" in os.environ:
        return keras_backend()
    return saved


def job_environment(classifier):
    """The environment variables a job of ``classifier`` must run under when this process
    cannot run it (a child process started with them can), or ``{}`` when it can.

    Adapters without a ``process_environment()`` method run anywhere.
    """
    needed = getattr(classifier, "process_environment", dict)()
    in_force = {**os.environ, "KERAS_BACKEND": keras_backend()}
    return needed if any(in_force.get(name) != value for name, value in needed.items()) else {}


def device_environment(backend, device):
    """The environment variables that put Keras on ``backend`` on ``device`` in a new process:
    PyTorch's CPU is forced by hiding the GPUs, as Keras' device scope on PyTorch fails on
    layers with integer state (a dropout layer's seed) while it moves them."""
    return {"CUDA_VISIBLE_DEVICES": ""} if (backend, device) == ("torch", "cpu") else {}


def device_name(backend, device):
    """``"cpu"`` or ``"gpu:NAME"``: where Keras on ``backend`` computes. ``device="auto"``
    takes the accelerator the framework sees, as Keras does; ``"cpu"`` forces the CPU.

    Raises
    ------
    ParameterError
        For PyTorch's CPU in a process whose PyTorch sees a GPU (see
        :func:`device_environment`).
    """
    if device == "cpu":
        if backend == "torch" and torch_accelerator() != "cpu":
            raise ParameterError("device='cpu' on the torch backend needs a process whose "
                                 "PyTorch sees no GPU: start it with CUDA_VISIBLE_DEVICES='' "
                                 "(mnistbench's runner does)")
        return "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return "cpu"
        details = tf.config.experimental.get_device_details(gpus[0])
        return "gpu:" + details.get("device_name", gpus[0].name)
    if backend == "jax":
        import jax

        first = jax.devices()[0]
        return "cpu" if first.platform == "cpu" else f"gpu:{first.device_kind}"
    return torch_accelerator()


def torch_accelerator():
    """``"cpu"`` or ``"gpu:NAME"``: where Keras on PyTorch computes (CUDA, then Apple's MPS,
    as Keras chooses)."""
    import torch

    if torch.cuda.is_available():
        return f"gpu:{torch.cuda.get_device_name(0)}"
    return "gpu:mps" if torch.backends.mps.is_available() else "cpu"


def device_scope(backend, device):
    """A block in which Keras builds, trains and predicts on ``device`` (``"auto"``: where
    the backend puts things by default; PyTorch's CPU is chosen by the process, see
    :func:`device_environment`)."""
    if device == "auto" or backend == "torch":
        return contextlib.nullcontext()
    import keras

    return keras.device(f"{device}:0")


def compiled_forward(model, backend, device="auto"):
    """A function from float32 images to ``model``'s output as a NumPy array, compiled where
    the backend compiles, and reading the model's current weights at each call.

    TensorFlow traces one graph for every batch size; XLA (JAX) compiles one program per
    input shape, so under JAX a batch is padded with blank images to a power of two; PyTorch
    runs eagerly, without gradients.
    """
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        run = tf.function(lambda images: model(images, training=False), input_signature=[spec])
    elif backend == "jax":
        run = jax_forward(model)
    else:
        run = torch_forward(model)

    def forward(images):
        with device_scope(backend, device):
            return np.asarray(run(images))

    forward.compiled = run  # what the backend compiled (TensorFlow counts its tracings)
    return forward


def jax_forward(model):
    """``model`` in inference mode as one jitted function of its weights and a padded batch."""
    import jax

    @jax.jit
    def call(trainable, non_trainable, images):
        return model.stateless_call(trainable, non_trainable, images, training=False)[0]

    def forward(images):
        rows = len(images)
        padded = 1 << max(rows - 1, 0).bit_length()
        if padded > rows:
            images = np.concatenate([images, np.zeros((padded - rows, *images.shape[1:]),
                                                      images.dtype)])
        return call([v.value for v in model.trainable_variables],
                    [v.value for v in model.non_trainable_variables], images)[:rows]

    return forward


def torch_forward(model):
    """``model`` in inference mode, run by PyTorch without recording gradients."""
    import keras
    import torch

    def forward(images):
        with torch.no_grad():
            return keras.ops.convert_to_numpy(model(images, training=False))

    return forward
