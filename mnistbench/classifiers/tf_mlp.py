"""Multi-layer perceptron in TensorFlow itself: variables, a gradient tape, hand-written Adam.

No Keras: the network is a list of ``tf.Variable`` weights, one ``forward`` function serves
training and prediction, and an epoch is one ``tf.function`` looping over a ``tf.data``
pipeline. Softmax regression (:mod:`~mnistbench.classifiers.tf_softmax`) is this with no
hidden layers.
"""

import math

import numpy as np

from mnistbench.classifiers.base import scaled
from mnistbench.classifiers.neural import NeuralClassifier, predict_in_chunks

WEIGHTS_FILE = "weights.npz"
PREDICT_ACTIVATIONS = 2 ** 24  # rows per prediction call: the widest layer's 64 MB of float32
ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}  # Keras' defaults

PRESETS = {
    "adaptive": {
        "description": "256-128 ReLU, dropout 0.2, Adam peaking at 1e-3, one-cycle over the "
                       "planned steps: 8 epochs of batch 128 on MNIST; on small data batches of "
                       "1/50 of the images and at least 3,000 steps; keeps the epoch of lowest "
                       "holdout loss, stops after 10 epochs without a lower one; at most 300 s",
        "hidden": [256, 128], "dropout": 0.2, "optimizer": "adam", "learning_rate": 1e-3,
        "schedule": "one-cycle", "epochs": 8, "batch_size": 128, "min_batches": 50,
        "min_steps": 3000,
        "patience": 10, "restore_best": True, "seconds": 300},
    "dense-256-128": {
        "description": "256-128 ReLU, dropout 0.2, Adam 1e-3, 8 epochs of batch 128 (~98.1%)",
        "hidden": [256, 128], "dropout": 0.2, "optimizer": "adam", "learning_rate": 1e-3,
        "epochs": 8, "batch_size": 128},
    "dense-128-64": {
        "description": "128-64 ReLU, Adam 1e-3, 5 epochs of batch 32 (97.3% measured)",
        "hidden": [128, 64], "dropout": 0.0, "optimizer": "adam", "learning_rate": 1e-3,
        "epochs": 5, "batch_size": 32},
    "dense-1000-250-100": {
        "description": "1000-250-100 ReLU, dropout 0.5, Adam 1e-4, 1,000 steps of batch 100 "
                       "(reported 91.7%)",
        "hidden": [1000, 250, 100], "dropout": 0.5, "optimizer": "adam", "learning_rate": 1e-4,
        "epochs": 2, "steps": 1000, "batch_size": 100},
}


class TFMLP(NeuralClassifier):
    """MLP in TensorFlow (no Keras); presets adaptive (the default), dense-256-128,
    dense-128-64, dense-1000-250-100."""

    PRESETS = PRESETS

    def __init__(self, preset="adaptive", epochs=None, batch_size=None, learning_rate=None,
                 time_budget=None, validation_fraction=0.1, augment="none",
                 augment_holdout=False, random_state=None, verbose=0):
        self.preset = preset
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.time_budget = time_budget
        self.validation_fraction = validation_fraction
        self.augment = augment
        self.augment_holdout = augment_holdout
        self.random_state = random_state
        self.verbose = verbose

    def _settings(self):
        settings = super()._settings()
        if self.epochs is not None:  # epochs given: they replace a preset's step count
            settings.pop("steps", None)
        return settings

    def _fit(self, X, y):
        import tensorflow as tf

        settings = self._settings()
        X_fit, y_fit, X_val, y_val = self._holdout(X, y)
        rng = tf.random.Generator.from_seed(self.random_state) if self.random_state is not None \
            else tf.random.Generator.from_non_deterministic_state()
        sizes = [X.shape[1], *settings["hidden"], len(self.classes_)]
        weights = [tf.Variable(array) for array in glorot_weights(rng, sizes)]
        plan = self._plan(settings, len(y_fit))
        update = make_optimizer(settings["optimizer"], weights, learning_rate_schedule(
            settings["learning_rate"], settings.get("schedule", "constant"),
            plan[0] * plan[1]))
        X_fit, y_fit = tf.constant(X_fit), tf.constant(y_fit, tf.int32)
        batch_size, dropout = settings["batch_size"], settings["dropout"]

        @tf.function
        def train_epoch(order, max_steps):
            loss_sum, (correct, seen, steps) = tf.constant(0.0), [tf.constant(0)] * 3
            for rows in tf.data.Dataset.from_tensor_slices(order).batch(batch_size).take(
                    max_steps):
                x, labels = tf.gather(X_fit, rows), tf.gather(y_fit, rows)
                with tf.GradientTape() as tape:
                    logits = forward(weights, x, dropout, rng)
                    loss = tf.reduce_mean(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
                update(tape.gradient(loss, weights))
                loss_sum += loss * tf.cast(tf.size(rows), tf.float32)
                correct += tf.reduce_sum(tf.cast(predicted(logits) == labels, tf.int32))
                seen += tf.size(rows)
                steps += 1
            seen = tf.cast(seen, tf.float32)
            return loss_sum / seen, tf.cast(correct, tf.float32) / seen, steps

        steps_left = settings.get("steps", math.inf)
        log = self._epoch_log(settings, plan, lambda X: tf.nn.softmax(
            forward(weights, tf.constant(X))).numpy())
        best = None
        while True:
            order = tf.argsort(rng.uniform([len(y_fit)]))  # this epoch's shuffle
            loss, accuracy, steps = train_epoch(order, tf.constant(min(steps_left, 2**31 - 1),
                                                                   tf.int64))
            steps_left -= int(steps)
            if steps_left <= 0:
                log.stop("step limit")
            val_loss, val_accuracy = evaluate(weights, X_val, y_val)
            go_on = log.add(loss, accuracy, val_loss, val_accuracy)
            if log.improved and settings.get("restore_best"):
                best = [w.numpy() for w in weights]
            if not go_on:
                break
        self._close_log(log, settings.get("restore_best", False))
        self.weights_ = best or [w.numpy() for w in weights]
        self._compile()

    def _network_size(self, n_fit, n_predict, n_features, n_classes):
        widths = [n_features, *self._preset_settings()[0]["hidden"], n_classes]
        # prediction chunks, or the holdout in one pass after every epoch
        rows = max(min(n_predict, PREDICT_ACTIVATIONS // max(widths[1:])), n_fit // 10)
        return widths, rows, 4

    def _compile(self):
        self._forward = compiled_softmax(self.weights_)

    def _predict_proba(self, X):
        widest = max(W.shape[1] for W in self.weights_[0::2])
        # 8-bit pixels go into the graph as they are (a quarter of the bytes) and are scaled
        # there, by the same float32 operations as scaled()
        pixels = X if X.dtype == np.uint8 else scaled(X)
        return predict_in_chunks(self._forward, pixels, PREDICT_ACTIVATIONS // widest)

    def _save_weights(self, directory):
        np.savez(directory / WEIGHTS_FILE, *self.weights_)
        return [WEIGHTS_FILE]

    def _load_weights(self, directory):
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
            self.weights_ = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
        self._compile()


def forward(weights, x, dropout=0.0, rng=None):
    """Logits of the network ``weights`` ([W1, b1, W2, b2, ...]) for inputs ``x``.

    Hidden layers are ReLU; with a random generator ``rng``, dropout is applied to them
    (inverted dropout, as in training).
    """
    import tensorflow as tf

    for W, b in zip(weights[0:-2:2], weights[1:-2:2]):
        x = tf.nn.relu(x @ W + b)
        if rng is not None and dropout:
            x = x * tf.cast(rng.uniform(tf.shape(x)) >= dropout, x.dtype) / (1 - dropout)
    return x @ weights[-2] + weights[-1]


def predicted(logits):
    import tensorflow as tf

    return tf.argmax(logits, axis=1, output_type=tf.int32)


def evaluate(weights, X, y):
    """Mean cross-entropy and accuracy of ``weights`` on ``X, y`` (no dropout)."""
    import tensorflow as tf

    logits = forward(weights, tf.constant(X))
    labels = tf.constant(y, tf.int32)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return float(loss), float(tf.reduce_mean(tf.cast(predicted(logits) == labels, tf.float32)))


def glorot_weights(rng, sizes):
    """Glorot-uniform weight matrices and zero biases for layer widths ``sizes``."""
    arrays = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = math.sqrt(6 / (fan_in + fan_out))
        arrays += [rng.uniform([fan_in, fan_out], -limit, limit), np.zeros(fan_out, np.float32)]
    return arrays


def learning_rate_schedule(peak, schedule, steps):
    """The learning rate as a function of the step count (a float tensor, from 1): ``constant``
    at ``peak``, or ``one-cycle`` over ``steps``: a linear warm-up from ``peak`` / 10 over
    the first 20%, then a cosine decay to 0 (the shape of Keras' ``CosineDecay`` with
    warm-up, which the CNN uses)."""
    import tensorflow as tf

    if schedule == "constant":
        return lambda step: peak
    warmup = max(steps // 5, 1)
    decay = max(steps - warmup, 1)

    def one_cycle(step):
        rising = peak / 10 + (peak - peak / 10) * step / warmup
        progress = tf.minimum((step - warmup) / decay, 1.0)
        falling = peak * 0.5 * (1 + tf.cos(math.pi * progress))
        return tf.where(step <= warmup, rising, falling)
    return one_cycle


def make_optimizer(name, variables, learning_rate):
    """A function applying one step of plain SGD or of Adam to ``variables``, given gradients;
    ``learning_rate`` maps the step count (from 1) to the rate."""
    import tensorflow as tf

    step = tf.Variable(0.0)
    if name == "sgd":
        def sgd(gradients):
            step.assign_add(1.0)
            rate = learning_rate(step)
            for variable, gradient in zip(variables, gradients):
                variable.assign_sub(rate * gradient)
        return sgd
    beta_1, beta_2, epsilon = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables]

    def adam(gradients):
        step.assign_add(1.0)
        rate = learning_rate(step) * tf.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
        for variable, gradient, (mean, square) in zip(variables, gradients, moments):
            mean.assign(beta_1 * mean + (1 - beta_1) * gradient)
            square.assign(beta_2 * square + (1 - beta_2) * gradient * gradient)
            variable.assign_sub(rate * mean / (tf.sqrt(square) + epsilon))
    return adam


def compiled_softmax(weights):
    """A function from pixels to class probabilities, for any batch size: float32 pixels
    already scaled to [0, 1], or 8-bit pixels, which it scales (one ``tf.function`` each)."""
    import tensorflow as tf

    constants = [tf.constant(w) for w in weights]
    spec = [None, weights[0].shape[0]]
    probabilities = tf.function(lambda x: tf.nn.softmax(forward(constants, x)),
                                input_signature=[tf.TensorSpec(spec, tf.float32)])
    from_uint8 = tf.function(
        lambda x: probabilities(tf.cast(x, tf.float32) * tf.constant(1 / 255, tf.float32)),
        input_signature=[tf.TensorSpec(spec, tf.uint8)])
    return lambda x: (from_uint8 if x.dtype == np.uint8 else probabilities)(x)
