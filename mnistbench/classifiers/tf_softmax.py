"""Softmax regression in TensorFlow itself: the TensorFlow MLP of :mod:`.tf_mlp` with no hidden
layer, so one weight matrix and one bias trained on cross-entropy."""

from mnistbench.classifiers.tf_mlp import TFMLP

PRESETS = {
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
    """Softmax regression written in TensorFlow (no Keras); presets fast, classic.

    The default preset, ``fast``, reaches the accuracy of the classic SGD recipe (preset
    ``classic``) in a fraction of its training time.
    """

    PRESETS = PRESETS

    def __init__(self, preset="fast", epochs=None, batch_size=None, learning_rate=None,
                 time_budget=None, validation_fraction=0.1, augment="none",
                 augment_holdout=False, random_state=None, verbose=0):
        super().__init__(preset=preset, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, time_budget=time_budget,
                         validation_fraction=validation_fraction, augment=augment,
                         augment_holdout=augment_holdout, random_state=random_state,
                         verbose=verbose)
