"""Boosting: gradient-boosted trees (LightGBM) and, as the preset ``stumps``, AdaBoost of depth-1
trees, the "boosted stumps" of the classic MNIST table.

LightGBM was chosen over scikit-learn's ``HistGradientBoostingClassifier`` and XGBoost by
measuring all three on the full MNIST (the README has the numbers): it was the first to 97.5%
by a wide margin, once each of its trees sees half the pixels and each round half the images
(which halves the time of a round at about the same accuracy). It runs deterministically: the
same seed gives the same model on one machine.
"""

import os

from mnistbench.classifiers.base import DigitClassifier, check_choice, check_in_range
from mnistbench.classifiers.base import check_positive
from mnistbench.classifiers.presets import preset_settings

THREADED_ROWS = 10_000  # below this, one thread: starting more costs more than it saves

PRESETS = {
    "lightgbm": {
        "description": "LightGBM, 31-leaf trees, learning rate 0.1, 150 rounds, each tree on half "
                       "the pixels and half the images: 97.90% after 54 s of fit, measured",
        "n_estimators": 150, "learning_rate": 0.1},
    "stumps": {
        "description": "AdaBoost (SAMME) of 200 depth-1 trees (classic table, boosted stumps: "
                       "92.3%): 75.74% after 312 s of fit, measured",
        "n_estimators": 200, "learning_rate": 1.0},
}


class Boosting(DigitClassifier):
    """Gradient-boosted trees, LightGBM; preset stumps: AdaBoost of stumps (classic: 92.3%)."""

    PRESETS = PRESETS
    BACKEND_MODULES = ("lightgbm",)

    def __init__(self, preset="lightgbm", n_estimators=None, learning_rate=None,
                 random_state=None, augment="none"):
        self.preset = preset
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.augment = augment

    def check_params(self):
        check_choice("preset", self.preset, tuple(PRESETS))
        if self.n_estimators is not None:
            check_in_range("n_estimators", self.n_estimators, 1)
        if self.learning_rate is not None:
            check_positive("learning_rate", self.learning_rate)
        if self.random_state is not None:
            check_in_range("random_state", self.random_state, 0, 2**32 - 1)

    def import_backend(self):
        if self.preset != "stumps":
            wait_passively()
            super().import_backend()

    def _fit(self, X, y):
        settings = preset_settings(self, ("n_estimators", "learning_rate"))
        if self.preset == "stumps":
            from sklearn.ensemble import AdaBoostClassifier
            from sklearn.tree import DecisionTreeClassifier

            self.model_ = AdaBoostClassifier(
                DecisionTreeClassifier(max_depth=1), n_estimators=settings["n_estimators"],
                learning_rate=settings["learning_rate"], random_state=self.random_state)
        else:
            from lightgbm import LGBMClassifier

            self.model_ = LGBMClassifier(
                n_estimators=settings["n_estimators"], learning_rate=settings["learning_rate"],
                num_leaves=31, colsample_bytree=0.5, subsample=0.5, subsample_freq=1,
                random_state=self.random_state, deterministic=True, force_col_wise=True,
                n_jobs=1 if len(X) < THREADED_ROWS else -1, verbose=-1)
        self.model_.fit(X, y)

    def _predict_proba(self, X):
        return self.model_.predict_proba(X)


def wait_passively():
    """Make OpenMP threads sleep, not spin, while they wait for each other.

    LightGBM's threads meet at a barrier many times per tree. Spinning there (libgomp's
    default) burns the time slices a busy machine shares out: a 2-thread fit beside three
    processes running 2-thread matrix products took 23.6x its quiet time, where a fair share of
    two cores predicts about 4x. libgomp reads ``OMP_WAIT_POLICY`` once, when it is loaded, so
    this must run before LightGBM's first import; a value the user set is kept.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
