"""The defaults of the classic adapters that adapt to the data (docs/guide/protocol-classic.md)."""

import numpy as np
import pytest

from mnistbench.classifiers.base import scaled
from mnistbench.classifiers.svm import SVM
from mnistbench.datasets import holdout_split
from mnistbench.errors import ParameterError


def components_keeping(X, share):
    """The fewest principal components of ``X`` whose variance reaches ``share`` of the total."""
    centred = X - X.mean(axis=0)
    variances = np.linalg.eigvalsh(centred.T @ centred)[::-1]
    return int(np.searchsorted(np.cumsum(variances) / variances.sum(), share) + 1)


def test_svm_default_keeps_85_percent_of_the_variance_of_its_fit_images(digits):
    model = SVM().fit(digits.X_train, digits.y_train)
    X_fit = holdout_split(digits.X_train.reshape(len(digits.X_train), -1), digits.y_train)[0]
    expected = components_keeping(scaled(X_fit).astype(np.float64), 0.85)
    assert model.chosen_params_["components"] == expected
    assert 10 < expected < 64  # the 8x8 digits need fewer than MNIST's 50, and more than a few
    assert model.resolved_params_["n_components"] == 0.85


def test_svm_share_of_variance_sets_the_component_count(digits):
    fewer = SVM(n_components=0.5).fit(digits.X_train, digits.y_train)
    more = SVM(n_components=0.99).fit(digits.X_train, digits.y_train)
    assert fewer.chosen_params_["components"] < more.chosen_params_["components"] <= 64


def test_svm_fixed_presets_keep_their_recipes(digits):
    pca_50 = SVM(preset="pca-50").fit(digits.X_train, digits.y_train)
    assert pca_50.chosen_params_["components"] == 50
    classic = SVM(preset="classic").fit(digits.X_train, digits.y_train)
    assert "components" not in classic.chosen_params_
    assert classic.score(digits.X_test, digits.y_test) > 0.9


@pytest.mark.parametrize("value", [0, 0.0, 1.5, -3, 1.0 + 1e-9, "half", True])
def test_svm_refuses_a_component_count_that_is_no_count_or_share(digits, value):
    with pytest.raises(ParameterError, match="n_components"):
        SVM(n_components=value).fit(digits.X_train, digits.y_train)
