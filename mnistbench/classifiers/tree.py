"""Decision tree (CART), scikit-learn's; the reference is 87.7% on MNIST with its defaults."""

import numpy as np

from mnistbench.classifiers.base import DigitClassifier, check_choice, check_in_range


class DecisionTree(DigitClassifier):
    """CART decision tree on raw pixels, seeded by ``random_state``."""

    def __init__(self, criterion="gini", max_depth=None, min_samples_leaf=1, augment="none",
                 random_state=None):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.augment = augment
        self.random_state = random_state

    def check_params(self):
        check_choice("criterion", self.criterion, ("gini", "entropy", "log_loss"))
        if self.max_depth is not None:
            check_in_range("max_depth", self.max_depth, 1)
        check_in_range("min_samples_leaf", self.min_samples_leaf, 1)

    def _fit(self, X, y):
        from sklearn.tree import DecisionTreeClassifier  # not at import: --list needs none

        self.model_ = DecisionTreeClassifier(
            criterion=self.criterion, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf, random_state=self.random_state).fit(X, y)
        self.leaf_classes_ = self.model_.tree_.value[:, 0].argmax(axis=1)
        self.chosen_params_ = {"depth": int(self.model_.get_depth()),
                               "leaves": int(self.model_.get_n_leaves())}

    def _predict_proba(self, X):
        return self.model_.predict_proba(X)

    def _predict(self, X):
        # the pixels are checked already (finite, 0-255): skip scikit-learn's second check and
        # go from each image's leaf straight to that leaf's class
        return self.leaf_classes_[self.model_.tree_.apply(np.asarray(X, dtype=np.float32))]
