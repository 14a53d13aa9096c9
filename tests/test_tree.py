import numpy as np
import pytest

from mnistbench.classifiers.tree import DecisionTree


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_predictions_equal_scikit_learn(mnist, dtype):
    X_train, y_train = mnist.X_train[:3000], mnist.y_train[:3000]
    X_test = mnist.X_test[:1000].astype(dtype)
    model = DecisionTree(random_state=0).fit(X_train, y_train)
    expected = model.model_.predict(X_test.reshape(len(X_test), -1).astype(np.float32))
    np.testing.assert_array_equal(model.predict(X_test), model.classes_[expected])
    np.testing.assert_array_equal(model.predict(X_test[:1]), model.classes_[expected[:1]])
