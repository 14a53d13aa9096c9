"""Softmax regression in TensorFlow itself: the TensorFlow MLP of :mod:`.tf_mlp` with no hidden
layer, so one weight matrix and one bias trained on cross-entropy."""

from mnistbench.classifiers.tf_mlp import TFMLP

PRESETS = {
    "adaptive": {
        "description": "Adam peaking at 1e-2, one-cycle over the planned steps: 5 epochs of "
                       "batch 100 on MNIST; on small data batches of 1/50 of the images and at "
                       "least 2,700 steps; keeps the epoch of lowest holdout loss, stops after 10 "
                       "epochs without a lower one; at most 300 s",
        "hidden": [], "dropout": 0.0, "optimizer": "adam", "learning_rate": 1e-2,
        "schedule": "one-cycle", "epochs": 5, "batch_size": 100, "min_batches": 50,
        "min_steps": 2700,
        "patience": 10, "restore_best": True, "seconds": 300},
    "fast": {
        "description": "Adam 3e-3, 5 epochs of batch 100: the classic's accuracy in a fifth of "
                       "its time (~92%)",
        "hidden": [], "dropout": 0.0, "optimizer": "adam", "learning_rate": 3e-3, "epochs": 5,
        "batch_size": 100},
    "classic": {
        "description": "plain SGD 0.01, 50 epochs of batch 128 (reference: 91.7%)",
        "hidden": [], "dropout": 0.0, "optimizer": "sgd", "learning_rate": 0.01, "epochs": 50,
        "batch_size": 128},
}


class TFSoftmax(TFMLP):
    """Softmax regression written in TensorFlow (no Keras); presets adaptive (the default),
    fast, classic.

    The default, ``adaptive``, trains as long as the data need (see
    :class:`~mnistbench.classifiers.neural.NeuralClassifier`); ``fast`` reaches the accuracy
    of the classic SGD recipe (preset ``classic``) in a fraction of its training time.
    """

    PRESETS = PRESETS

    def __init__(self, preset="adaptive", epochs=None, batch_size=None, learning_rate=None,
                 time_budget=None, validation_fraction=0.1, augment="none",
                 augment_holdout=False, random_state=None, verbose=0):
        super().__init__(preset=preset, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, time_budget=time_budget,
                         validation_fraction=validation_fraction, augment=augment,
                         augment_holdout=augment_holdout, random_state=random_state,
                         verbose=verbose)
