"""Fit, batch predict and single-image predict of every registered adapter, on a fixed subset."""

import pytest
from sklearn.base import clone

from mnistbench.classifiers.registry import algorithm_names, get_classifier

QUICK_EPOCHS = 2  # neural adapters train this many epochs on the quick subset
SUB_MILLISECOND = ("cnn", "tf-mlp", "tf-softmax", "mlp", "tree")  # single-image target


def quick_classifier(name):
    classifier = get_classifier(name)
    params = classifier.get_params()
    if "epochs" in params:
        classifier.set_params(epochs=QUICK_EPOCHS)
    if "random_state" in params:
        classifier.set_params(random_state=0)
    return classifier


@pytest.fixture(scope="module")
def fitted(quick):
    X_train, y_train, _, _ = quick
    return {name: quick_classifier(name).fit(X_train, y_train) for name in algorithm_names()}


@pytest.mark.parametrize("name", algorithm_names())
def test_fit(benchmark, quick, name):
    X_train, y_train, X_test, y_test = quick
    benchmark.group = f"{name}"
    classifier = quick_classifier(name)
    classifier.import_backend()  # TensorFlow's import is not the first TF adapter's fit
    model = benchmark.pedantic(lambda: clone(classifier).fit(X_train, y_train), rounds=1)
    benchmark.extra_info.update(stage="fit", n_train=len(X_train),
                                accuracy=float(model.score(X_test, y_test)))


@pytest.mark.parametrize("name", algorithm_names())
def test_batch_predict(benchmark, quick, fitted, name):
    _, _, X_test, y_test = quick
    benchmark.group = f"{name}"
    predictions = benchmark.pedantic(fitted[name].predict, args=(X_test,), rounds=3,
                                     warmup_rounds=1)
    benchmark.extra_info.update(stage="batch predict", n_test=len(X_test),
                                accuracy=float((predictions == y_test).mean()))


@pytest.mark.parametrize("name", algorithm_names())
def test_single_predict(benchmark, quick, fitted, name):
    _, _, X_test, _ = quick
    benchmark.group = f"{name}"
    benchmark.extra_info.update(stage="single-image predict")
    if name in SUB_MILLISECOND:
        benchmark.extra_info.update(max_ms=1.0)
    benchmark(fitted[name].predict, X_test[:1])
