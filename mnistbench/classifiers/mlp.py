"""Multi-layer perceptron, scikit-learn's, trained epoch by epoch and early-stopped on the holdout.

``MLPClassifier(early_stopping=True)`` would validate on a random split of its own; stepping it
with ``partial_fit`` lets the holdout be :func:`~mnistbench.datasets.holdout_split`'s, as for
every other adapter, with scikit-learn's stopping rule and best-epoch restore kept.
"""

import joblib
import numpy as np

from mnistbench.classifiers.base import scaled
from mnistbench.classifiers.neural import NeuralClassifier

NETWORK_FILE = "mlp.joblib"

PRESETS = {
    "adaptive": {
        "description": "one hidden layer of 100 ReLU units, Adam 1e-3, batch 200 (1/50 of the "
                       "images on small data); keeps the epoch of lowest holdout loss, stops "
                       "after 10 epochs without a lower one once 3,000 steps have run; at most "
                       "200 epochs or 300 s",
        "hidden_layer_sizes": [100], "alpha": 1e-4, "learning_rate": 1e-3, "batch_size": 200,
        "epochs": 200, "min_batches": 50,
        "min_steps": 3000, "patience": 10, "min_delta": 0.0,
        "watch": "val_loss", "seconds": 300},
    "adam-100": {
        "description": "one hidden layer of 100 ReLU units, Adam 1e-3, batch 200; stops when "
                       "holdout accuracy has not improved by 1e-4 for 10 epochs (97.6% measured)",
        "hidden_layer_sizes": [100], "alpha": 1e-4, "learning_rate": 1e-3, "batch_size": 200,
        "epochs": 200, "patience": 10, "min_delta": 1e-4, "watch": "val_accuracy"},
}


class MLP(NeuralClassifier):
    """Multi-layer perceptron (scikit-learn), early-stopped on the validation holdout; presets
    adaptive (the default), adam-100."""

    PRESETS = PRESETS
    BACKEND_MODULES = ()

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

    def _fit(self, X, y):
        # imported here: scikit-learn's neural_network pulls in linear_model and svm, which
        # listing the algorithms does not need
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        settings = self._settings()
        X_fit, y_fit, X_val, y_val = self._holdout(X, y)
        labels = np.arange(len(self.classes_))
        # a RandomState, not the int: partial_fit re-seeds from an int on every call, which
        # would repeat one shuffle order every epoch
        # no larger than the data: scikit-learn would clip it with a warning
        settings["batch_size"] = min(settings["batch_size"], len(X_fit))
        plan = self._plan(settings, len(X_fit))
        net = MLPClassifier(
            hidden_layer_sizes=tuple(settings["hidden_layer_sizes"]), alpha=settings["alpha"],
            batch_size=settings["batch_size"], learning_rate_init=settings["learning_rate"],
            random_state=np.random.RandomState(self.random_state))
        best_weights = None
        log = self._epoch_log(settings, plan, net.predict_proba)
        while True:
            net.partial_fit(X_fit, y_fit, classes=labels)
            val_proba = net.predict_proba(X_val)
            with log.untimed():  # a pass over the training set, for the history alone
                accuracy = net.score(X_fit, y_fit)
            go_on = log.add(net.loss_, accuracy, log_loss(y_val, val_proba, labels=labels),
                            np.mean(val_proba.argmax(axis=1) == y_val))
            if log.improved:  # scikit-learn's best-epoch restore
                best_weights = ([w.copy() for w in net.coefs_], [b.copy() for b in net.intercepts_])
            if not go_on:
                break
        if best_weights is not None:  # None only if every holdout loss was NaN: keep the last
            net.coefs_, net.intercepts_ = best_weights
        self._close_log(log, restore_best=True)
        self.model_ = net

    def _network_size(self, n_fit, n_predict, n_features, n_classes):
        # float64, and whole-set passes: the history's training accuracy, predict on a condition
        hidden = self._preset_settings()[0]["hidden_layer_sizes"]
        return [n_features, *hidden, n_classes], max(n_fit, n_predict), 8

    def _predict_proba(self, X):
        return self.model_.predict_proba(scaled(X))

    def _save_weights(self, directory):
        joblib.dump(self.model_, directory / NETWORK_FILE)
        return [NETWORK_FILE]

    def _load_weights(self, directory):
        self.model_ = joblib.load(directory / NETWORK_FILE)
