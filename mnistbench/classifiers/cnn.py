"""Convolutional networks in Keras 3, on TensorFlow, JAX or PyTorch, in six presets.

Images arrive flat and are reshaped to side x side x 1 (side = sqrt of the pixel count); rows
whose length is not a square have no image shape to restore and are read as one row of pixels
(1 x n). Images with a side under 28, like the 8 x 8 digits, are upscaled to at least 28 on
each side by a ``Resizing`` layer, so every preset keeps its architecture. Images given with
their shape (N x H x W) must be square.

Every backend trains on the same NumPy batches, shuffled by a NumPy generator seeded with
``random_state``. The presets that distort warp each batch with :func:`distort_batch` in NumPy
on JAX and PyTorch (Keras' random image layers took 301 s an epoch under JAX on an H100), and
with those Keras layers, in a parallel ``tf.data`` graph, on TensorFlow, where they are the
faster; the ranges are the same. Keras reads its backend once per process: see
:mod:`mnistbench.classifiers.backends`.
"""

import math
from pathlib import Path

import numpy as np

from mnistbench.classifiers.backends import (BACKENDS, DEVICES, check_installed,
                                             compiled_forward, device_environment,
                                             device_name, device_scope, loading_backend,
                                             use_backend)
from mnistbench.classifiers.base import check_choice, scaled
from mnistbench.classifiers.neural import NeuralClassifier, predict_in_chunks, restores_best
from mnistbench.classifiers.numpy_forward import numpy_forward

MODEL_FILE = "model.keras"
PREDICT_ROWS = 2048
NUMPY_ROWS = 8  # up to this many images take the NumPy forward pass (no graph call to pay)
MIN_SIDE = 28

PRESETS = {
    "adaptive": {
        "description": "the small convnet with a dense 128 layer, Adam peaking at 6e-3, "
                       "one-cycle over the planned steps: 3 epochs of batch 128 on MNIST; on "
                       "small data (under 6,400 fitting images) batch norm after each "
                       "convolution and dropout 0.5, batches of 1/50 of the images and at least "
                       "1,200 steps; stops after 10 epochs without a lower holdout loss, and "
                       "then keeps the lowest's weights, else the schedule's last; at most "
                       "600 s; bfloat16 where the CPU has it",
        "architecture": "fast", "small_data_architecture": "normed", "optimizer": "adam",
        "learning_rate": 6e-3,
        "schedule": "one-cycle", "epochs": 3, "batch_size": 128, "min_batches": 50,
        "min_steps": 1200, "patience": 10, "restore_best": "when stopped early",
        "seconds": 600,
        "distort": False, "precision": "auto"},
    "fast": {
        "description": "the small convnet with a dense 128 layer, Adam with a one-cycle rate "
                       "peaking at 6e-3, 3 epochs of batch 128, bfloat16 where the CPU has it "
                       "(~99.3%)",
        "architecture": "fast", "optimizer": "adam", "learning_rate": 6e-3,
        "schedule": "one-cycle", "epochs": 3, "batch_size": 128, "distort": False,
        "precision": "auto"},
    "best": {
        "description": "a strided seven-convolution net with batch norm (Deotte's Kaggle "
                       "design, 327k parameters), rotate/shift/shear/zoom augmentation, Adam "
                       "one-cycle to 3e-3 over 32 epochs of batch 128, bfloat16 where the CPU "
                       "has it; ends with the weights of the best validation loss (99.60% "
                       "measured in 18.4 minutes on 2 CPU cores)",
        "architecture": "strided", "optimizer": "adam", "learning_rate": 3e-3,
        "schedule": "one-cycle", "epochs": 32, "batch_size": 128, "distort": True,
        "precision": "auto", "restore_best": True},
    "small": {
        "description": "the keras.io MNIST convnet: conv32-pool-conv64-pool-dropout 0.5-dense, "
                       "Adam 1e-3, 15 epochs of batch 128 (~99.2%)",
        "architecture": "small", "optimizer": "adam", "learning_rate": 1e-3,
        "schedule": "constant", "epochs": 15, "batch_size": 128, "distort": False,
        "precision": "float32"},
    "deep": {
        "description": "seven 3x3/5x5 convolutions with batch norm, dense 128, dropout 0.4 "
                       "(3,425,386 parameters); RMSprop 1e-3 halved on plateaus, shift/rotate/"
                       "shear/zoom augmentation, early stopping, up to 200 epochs of batch 256 "
                       "(reported 99.64%)",
        "architecture": "deep", "optimizer": "rmsprop", "learning_rate": 1e-3,
        "schedule": "plateau", "epochs": 200, "batch_size": 256, "distort": True,
        "precision": "float32", "restore_best": True},
    "sprint": {
        "description": "conv8-pool-conv48-pool-dense128 (158,602 parameters), Adam with a "
                       "one-cycle rate peaking at 2e-2, 2 epochs of batch 250, 8 steps per "
                       "compiled call, bfloat16 where the CPU has it (99.06% test accuracy "
                       "after a 7.86 s fit, medians of seeds 0-2 on a quiet 2-core AMD EPYC)",
        "architecture": "sprint", "optimizer": "adam", "learning_rate": 2e-2,
        "schedule": "one-cycle", "epochs": 2, "batch_size": 250, "distort": False,
        "precision": "auto", "steps_per_execution": 8},
}


class CNN(NeuralClassifier):
    """Convolutional network (Keras 3); presets adaptive (the default), fast, sprint, best,
    small, deep.

    ``backend`` is the framework Keras runs on (``tensorflow``, ``jax``, ``torch``), ``device``
    ``auto`` (its accelerator when it sees one) or ``cpu``. After fit, ``backend_`` and
    ``device_`` (``cpu`` or ``gpu:NAME``) say where it trained.
    """

    PRESETS = PRESETS

    def __init__(self, preset="adaptive", epochs=None, batch_size=None, learning_rate=None,
                 time_budget=None, validation_fraction=0.1, augment="none",
                 augment_holdout=False, backend="tensorflow", device="auto",
                 random_state=None, verbose=0):
        self.preset = preset
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.time_budget = time_budget
        self.validation_fraction = validation_fraction
        self.augment = augment
        self.augment_holdout = augment_holdout
        self.backend = backend
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @property
    def BACKEND_MODULES(self):
        # TensorFlow on every backend: keras.utils.set_random_seed seeds (and so imports) it
        # whenever it is installed, and its import is no part of the fit time
        return ("keras", "tensorflow", *([self.backend] if self.backend != "tensorflow" else []))

    def process_environment(self):
        """The environment variables of a process that can fit this network: Keras reads
        ``KERAS_BACKEND`` once per process, PyTorch its GPUs once (see
        :func:`~mnistbench.classifiers.backends.job_environment`)."""
        return {"KERAS_BACKEND": self.backend, **device_environment(self.backend, self.device)}

    def check_params(self):
        super().check_params()
        check_choice("backend", self.backend, BACKENDS)
        check_choice("device", self.device, DEVICES)
        check_installed(self.backend)

    def import_backend(self):
        """Import Keras on this network's backend now; raise ``ParameterError`` if Keras
        already runs on another one in this process."""
        use_backend(self.backend, f"cnn with backend={self.backend!r}")
        super().import_backend()

    def fit(self, X, y, monitor=None):
        shape = tuple(getattr(X, "shape", ()))
        if len(shape) > 2 and (shape[1] != shape[2] or shape[3:] not in ((), (1,))):
            raise ValueError(f"the CNN takes square one-channel images; got images of shape "
                             f"{shape[1:]}")
        return super().fit(X, y, monitor)

    def _fit(self, X, y):
        import keras

        settings = self._settings()
        shape = image_shape(X.shape[1])
        X_fit, y_fit, X_val, y_val = self._holdout(X, y)
        X_fit, X_val = X_fit.reshape(-1, *shape, 1), X_val.reshape(-1, *shape, 1)
        if self.random_state is not None:  # Keras draws layer seeds from the global ones
            keras.utils.set_random_seed(self.random_state)
        self.backend_, self.device_ = self.backend, device_name(self.backend, self.device)
        architecture = self._architecture(len(X_fit))
        if "small_data_architecture" in settings:  # a choice: say which
            self.chosen_params_["architecture"] = architecture
            self.resolved_params_["architecture"] = architecture
        plan = self._plan(settings, len(X_fit))
        epochs, steps_per_epoch = plan
        self.chosen_params_["precision"] = dtype_policy(settings["precision"], self.device_)
        with device_scope(self.backend, self.device):
            model = build_network(architecture, shape, len(self.classes_),
                                  self.chosen_params_["precision"])
            # Keras draws the progress bar itself
            forward = compiled_forward(model, self.backend, self.device)
            log = self._epoch_log(settings, plan, lambda X: predict_in_chunks(
                forward, X.reshape(-1, *shape, 1), PREDICT_ROWS), verbose=0)
            model.compile(optimizer=make_optimizer(settings, epochs * steps_per_epoch),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                          steps_per_execution=steps_per_call(settings, self.backend,
                                                             steps_per_epoch))
            # TensorFlow runs Keras' own distortion layers as a parallel tf.data graph (7 ms a
            # batch against 33 ms for the NumPy warp, measured); elsewhere they are pathological
            in_graph = settings["distort"] and self.backend == "tensorflow"
            batches = training_batches(X_fit, y_fit, settings["batch_size"],
                                       settings["distort"] and not in_graph, self.random_state)
            if in_graph:
                batches = distorted_in_graph(batches, X_fit.shape[1:], self.random_state)
            model.fit(batches, steps_per_epoch=steps_per_epoch, epochs=epochs,
                      validation_data=(X_val, y_val), shuffle=False, verbose=self.verbose,
                      callbacks=training_callbacks(settings, model, log))
        self._close_log(log, restores_best(settings, log))
        self.model_ = model
        self._compile()

    def _architecture(self, n_fit):
        """The preset's network for ``n_fit`` fitting images: its ``small_data_architecture``
        where they are fewer than ``min_batches`` batches of the preset's own batch size (the
        data on which the plan shrinks the batch, whatever ``batch_size`` is given), else its
        ``architecture``."""
        settings = self._preset_settings()[0]
        small = settings.get("small_data_architecture")
        if small and n_fit < self.PRESETS[self.preset]["batch_size"] * settings["min_batches"]:
            return small
        return settings["architecture"]

    def _network_size(self, n_fit, n_predict, n_features, n_classes):
        # the network the fit would build is built to count its layers' outputs, not trained
        model = build_network(self._architecture(n_fit), image_shape(n_features), n_classes)
        sizes = [n_features] + [math.prod(layer.output.shape[1:]) for layer in model.layers]
        return sizes, min(PREDICT_ROWS, n_predict), 4

    def _compile(self):
        self._forward = compiled_forward(self.model_, self.backend_, self.device)
        if self.backend_ == "jax":  # XLA compiles per shape: a full chunk's program now, so
            # that predicting a test set compiles nothing
            self._forward(np.zeros((PREDICT_ROWS, *self.model_.input_shape[1:]), np.float32))
        self._numpy_forward = numpy_forward(self.model_)  # None for layers it does not know

    def _predict_proba(self, X):
        images = scaled(X).reshape(-1, *image_shape(X.shape[1]), 1)
        if len(images) <= NUMPY_ROWS and self._numpy_forward is not None:
            return self._numpy_forward(images)
        return predict_in_chunks(self._forward, images, PREDICT_ROWS)

    def _save_weights(self, directory):
        self.model_.save(directory / MODEL_FILE)
        return [MODEL_FILE]

    def _load_network(self, directory):
        self.backend = loading_backend(self.backend)
        super()._load_network(directory)

    def _load_weights(self, directory):
        import keras

        try:
            self.model_ = keras.saving.load_model(directory / MODEL_FILE, compile=False)
        except Exception as exc:  # Keras' reasons run over many lines
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"Keras cannot rebuild this network on {self.backend}: "
                             f"{reason}") from exc
        self.backend_, self.device_ = self.backend, device_name(self.backend, self.device)
        self._compile()


def image_shape(n_pixels):
    """(height, width) of the images with ``n_pixels`` pixels: a square when ``n_pixels`` is
    one, else a single row (flat features with no known image shape)."""
    side = math.isqrt(n_pixels)
    return (side, side) if side * side == n_pixels else (1, n_pixels)


def build_network(architecture, shape, n_classes, policy="float32"):
    """The Keras model of ``architecture`` for images of ``shape`` (height, width) x 1.

    ``policy`` is the Keras dtype policy of the hidden layers; the output stays float32.
    """
    import keras
    from keras import layers

    default = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # layers take the policy in force when made
    try:
        resize = [layers.Resizing(*(max(n, MIN_SIDE) for n in shape))] \
            if min(shape) < MIN_SIDE else []
        body = {"fast": fast_layers, "normed": normed_layers, "small": small_layers,
                "deep": deep_layers, "strided": strided_layers,
                "sprint": sprint_layers}[architecture]()
    finally:
        keras.config.set_dtype_policy(default)
    return keras.Sequential([keras.Input((*shape, 1)), *resize, *body,
                             layers.Dense(n_classes, activation="softmax", dtype="float32")],
                            name=architecture)


def dtype_policy(precision, device):
    """The Keras dtype policy for a preset's ``precision``: ``auto`` trains in bfloat16 (with
    float32 weights) on a ``device`` that is a CPU with native bfloat16 arithmetic, else in
    float32."""
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if device == "cpu" and cpu_has_bfloat16() else "float32"


def cpu_has_bfloat16():
    """Whether the CPU advertises native bfloat16 instructions (AVX-512 BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fast_layers():
    """The small convnet with a dense layer of 128 before the output, for a faster descent."""
    from keras import layers

    return [layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dropout(0.3)]


def normed_layers():
    """The fast net with batch norm between each convolution and its ReLU, and dropout 0.5,
    the adaptive preset's network on small data: of the regularised variants in
    ``benchmarks/digits_variants.py``, the one that scored highest on the digits' development
    split. On MNIST it scored lower than the fast net in the adaptive preset's 3 epochs."""
    from keras import layers

    stack = []
    for filters in (32, 64):
        # momentum 0.9 (PyTorch's default), not Keras' 0.99: the moving statistics settle
        # within the few hundred steps a short fit on small data takes
        stack += [layers.Conv2D(filters, 3), layers.BatchNormalization(momentum=0.9),
                  layers.ReLU(), layers.MaxPooling2D(2)]
    return stack + [layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dropout(0.5)]


def sprint_layers():
    """The fast net with 8 and 48 filters and no dropout: 24% of its multiply-adds."""
    from keras import layers

    return [layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(48, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(128, activation="relu")]


def strided_layers():
    """32C3-32C3-32C5S2-64C3-64C3-64C5S2-128C4, each with batch norm, dropout 0.4 after each
    stride and before the output (Chris Deotte's "How to choose CNN architecture MNIST")."""
    from keras import layers

    stack = []
    for filters in (32, 64):
        for kernel, stride in ((3, 1), (3, 1), (5, 2)):
            padding = "same" if stride == 2 else "valid"
            stack += [layers.Conv2D(filters, kernel, strides=stride, padding=padding,
                                    activation="relu"), layers.BatchNormalization()]
        stack.append(layers.Dropout(0.4))
    return stack + [layers.Conv2D(128, 4, activation="relu"), layers.BatchNormalization(),
                    layers.Flatten(), layers.Dropout(0.4)]


def small_layers():
    from keras import layers

    return [layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dropout(0.5)]


def deep_layers():
    """No pooling or strides: the 3,425,386 parameters need 28 x 28 x 32 into the dense layer."""
    from keras import layers

    stack = []
    for filters, kernel in ((32, 3), (32, 3), (32, 5), (64, 3), (64, 3), (64, 5)):
        stack += [layers.Conv2D(filters, kernel, padding="same", activation="relu"),
                  layers.BatchNormalization()]
    return stack + [layers.Conv2D(32, 3, padding="same", activation="relu"), layers.Dropout(0.4),
                    layers.Flatten(), layers.Dropout(0.4), layers.Dense(128, activation="relu"),
                    layers.Dropout(0.4)]


def training_batches(images, labels, batch_size, distort, seed):
    """Endless NumPy batches of ``(images, labels)``: each epoch a new order drawn from a
    generator seeded with ``seed``, the same on every backend; each batch warped by
    :func:`distort_batch` if ``distort``."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            batch = images[chosen]
            yield (distort_batch(batch, rng) if distort else batch), labels[chosen]


def distorted_in_graph(batches, shape, seed):
    """A ``tf.data`` pipeline of ``batches`` (a generator of NumPy batches of images of
    ``shape``) with Keras' random rotation, translation, shear and zoom layers applied in
    parallel: the same ranges as :func:`distort_batch`."""
    import keras
    import tensorflow as tf
    from keras import layers

    distort = keras.Sequential([
        layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
        layers.RandomShear(0.1, 0.1, fill_mode="constant", seed=seed),
        layers.RandomZoom(0.1, fill_mode="constant", seed=seed)])
    signature = (tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int64))
    dataset = tf.data.Dataset.from_generator(lambda: batches, output_signature=signature)
    return dataset.map(lambda images, labels: (distort(images, training=True), labels),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(
        tf.data.AUTOTUNE)


def distort_batch(images, rng, degrees=10, shift=0.1, shear=0.1, zoom=0.1):
    """Each of ``images`` (N, H, W, 1) rotated by up to ``degrees`` either way, shifted by up
    to ``shift`` of its side on each axis, sheared by up to ``shear`` on each axis and zoomed
    by up to ``zoom``, about its centre, with bilinear interpolation and black outside: the
    ranges of Keras' ``RandomRotation``, ``RandomTranslation``, ``RandomShear`` and
    ``RandomZoom``, drawn from ``rng``, in one vectorised NumPy pass; no flips."""
    n, height, width = images.shape[:3]
    angle = np.deg2rad(rng.uniform(-degrees, degrees, n))
    shear_rows, shear_columns = rng.uniform(-shear, shear, (2, n))
    scale = 1 + rng.uniform(-zoom, zoom, n)
    offset_rows, offset_columns = rng.uniform(-shift, shift, (2, n)) * [[height], [width]]
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    # the inverse map: for each output pixel (offsets from the centre), the input point it reads
    rows = np.arange(height, dtype=np.float32)[:, None] - (height - 1) / 2
    columns = np.arange(width, dtype=np.float32)[None, :] - (width - 1) / 2

    def per_image(values):
        return values.astype(np.float32)[:, None, None]

    a, b = per_image(cos - sin * shear_rows), per_image(cos * shear_columns - sin)
    c, d = per_image(sin + cos * shear_rows), per_image(sin * shear_columns + cos)
    source_rows = a * rows + b * columns + per_image((height - 1) / 2 - offset_rows)
    source_columns = c * rows + d * columns + per_image((width - 1) / 2 - offset_columns)
    return bilinear(images[..., 0], source_rows, source_columns)[..., None]


def bilinear(images, rows, columns):
    """``images`` (N, H, W) sampled at the fractional points ``rows``, ``columns`` (N, h, w),
    each point of image i from image i, zero outside the image.

    The images get a border of zeros and every corner is clipped into it, so a point outside
    reads zeros with no mask; the four corners are gathered from the flattened stack.
    """
    n, height, width = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1))).reshape(-1)
    first = (np.arange(n) * ((height + 2) * (width + 2)))[:, None, None]

    def padded_index(values, size):  # a row or column of the image, in the bordered one
        return np.clip(values, -1, size).astype(np.intp) + 1

    top, left = np.floor(rows), np.floor(columns)
    down, right = rows - top, columns - left
    upper_row = first + padded_index(top, height) * (width + 2)
    lower_row = first + padded_index(top + 1, height) * (width + 2)
    left_column, right_column = padded_index(left, width), padded_index(left + 1, width)
    upper = padded[upper_row + left_column] * (1 - right) + padded[upper_row + right_column] * right
    lower = padded[lower_row + left_column] * (1 - right) + padded[lower_row + right_column] * right
    return upper * (1 - down) + lower * down


def make_optimizer(settings, steps):
    """The preset's optimizer; ``one-cycle`` warms up for 20% of ``steps`` then cosine-decays."""
    import keras

    rate = settings["learning_rate"]
    if settings["schedule"] == "one-cycle":
        warmup = steps // 5
        rate = keras.optimizers.schedules.CosineDecay(
            rate / 10, decay_steps=steps - warmup, warmup_target=rate, warmup_steps=warmup)
    optimizers = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    return optimizers[settings["optimizer"]](learning_rate=rate)


def steps_per_call(settings, backend, steps_per_epoch):
    """Training steps per call of the compiled step (fewer Python round trips: 15% less CPU
    time for the sprint net): the largest divisor of ``steps_per_epoch`` up to the preset's
    ``steps_per_execution``, since Keras rounds each epoch up to whole calls; 1 on PyTorch,
    where Keras runs one."""
    most = 1 if backend == "torch" else settings.get("steps_per_execution", 1)
    return max(n for n in range(1, min(most, steps_per_epoch) + 1) if steps_per_epoch % n == 0)


def training_callbacks(settings, model, log):
    """Callbacks that feed ``log``, which stops training (time budget, patience, epoch limit);
    for the ``plateau`` schedule, halve the rate when validation accuracy stalls 3 epochs and
    stop when training accuracy does; with ``restore_best``, end with the weights of the
    epoch ``log`` found best."""
    import keras

    def log_epoch(epoch, logs):
        if not log.add(logs["loss"], logs["accuracy"], logs["val_loss"], logs["val_accuracy"]):
            model.stop_training = True

    callbacks = [keras.callbacks.LambdaCallback(on_epoch_end=log_epoch)]
    if settings["schedule"] == "plateau":
        callbacks += [
            keras.callbacks.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=3, min_lr=1e-5),
            keras.callbacks.EarlyStopping("accuracy", patience=3)]
    if settings.get("restore_best"):  # after log_epoch, which decides what is best
        best = BestWeights(model, log, settings)
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=best.update,
                                                        on_train_end=best.restore))
    return callbacks


class BestWeights:
    """Keeps the weights of each epoch ``log`` calls an improvement, and at the end of training
    restores the last kept where the preset's ``restore_best`` says so (see
    :func:`~mnistbench.classifiers.neural.restores_best`)."""

    def __init__(self, model, log, settings):
        self.model, self.log, self.settings = model, log, settings
        self.weights = None

    def update(self, epoch, logs):
        if self.log.improved:
            self.weights = self.model.get_weights()

    def restore(self, logs=None):
        if self.weights is not None and restores_best(self.settings, self.log):
            self.model.set_weights(self.weights)
