"""Boosting: gradient-boosted trees on histograms (scikit-learn's
``HistGradientBoostingClassifier``) and, as the preset ``stumps``, AdaBoost of depth-1 trees,
the "boosted stumps" of the classic MNIST table."""

from mnistbench.classifiers.base import DigitClassifier, check_choice, check_in_range
from mnistbench.classifiers.neural import check_positive
from mnistbench.classifiers.presets import preset_settings

PRESETS = {
    "hist": {
        "description": "HistGradientBoostingClassifier, 31-leaf trees, learning rate 0.1",
        "n_estimators": 100, "learning_rate": 0.1},
    "stumps": {
        "description": "AdaBoost (SAMME) of 300 depth-1 trees (classic table, boosted stumps: "
                       "92.3%)",
        "n_estimators": 300, "learning_rate": 1.0},
}


class Boosting(DigitClassifier):
    """Gradient-boosted trees; preset stumps: AdaBoost of stumps (classic table: 92.3%)."""

    PRESETS = PRESETS

    def __init__(self, preset="hist", n_estimators=None, learning_rate=None, random_state=None,
                 augment="none"):
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

    def _fit(self, X, y):
        settings = preset_settings(self, ("n_estimators", "learning_rate"))
        if self.preset == "stumps":
            from sklearn.ensemble import AdaBoostClassifier
            from sklearn.tree import DecisionTreeClassifier

            self.model_ = AdaBoostClassifier(
                DecisionTreeClassifier(max_depth=1), n_estimators=settings["n_estimators"],
                learning_rate=settings["learning_rate"], random_state=self.random_state)
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            self.model_ = HistGradientBoostingClassifier(
                max_iter=settings["n_estimators"], learning_rate=settings["learning_rate"],
                early_stopping=False, random_state=self.random_state)
        self.model_.fit(X, y)

    def _predict_proba(self, X):
        return self.model_.predict_proba(X)
