"""The adaptive defaults of the neural adapters: when training stops and why, which epoch's
weights are kept, how the plan follows the size of the data, and the learning-rate schedule."""

import math

import numpy as np
import pandas as pd
import pytest

from conftest import TINY
from mnistbench.classifiers.neural import EpochLog
from mnistbench.classifiers.registry import get_class, get_classifier
from mnistbench.report.plots import stop_reasons

NEURAL = ("mlp", "tf-softmax", "tf-mlp", "cnn")
MNIST_FIT = 54_000  # MNIST's training images less the 10% holdout


def feed(log, val_losses):
    """Add epochs with these holdout losses; return how many were added before the stop."""
    for count, val_loss in enumerate(val_losses, 1):
        if not log.add(1.0, 0.5, val_loss, 0.5):
            return count
    return len(val_losses)


def test_patience_stops_after_that_many_epochs_without_a_gain_and_keeps_the_best():
    log = EpochLog(20, patience=3)
    # best at epoch 3; epochs 4-6 are no better: the third of them stops training
    assert feed(log, [0.9, 0.7, 0.5, 0.6, 0.52, 0.55, 0.1]) == 6
    rows = log.close(log.best_epoch)
    assert [row["kept"] for row in rows] == [False, False, True, False, False, False]
    assert [row["stop_reason"] for row in rows] == [""] * 5 + ["patience"]


def test_a_gain_smaller_than_min_delta_counts_as_none():
    log = EpochLog(20, patience=2, min_delta=0.05)
    assert feed(log, [1.0, 0.98, 0.97, 0.5]) == 3  # 0.02 and 0.03 better: not enough
    assert log.best_epoch == 3  # yet the best weights are the lowest loss's
    log = EpochLog(20, patience=2, watch="val_accuracy")
    for accuracy in (0.5, 0.7, 0.6):
        log.add(1.0, 0.5, 1.0, accuracy)
    assert log.best_epoch == 2 and log.stop_reason is None


def test_the_epoch_limit_and_the_time_budget_are_reasons_too():
    log = EpochLog(3, patience=1)
    assert feed(log, [0.5, 0.4, 0.6]) == 3  # no gain in the last epoch, but it is the limit
    assert log.close()[-1]["stop_reason"] == "epoch limit"
    log = EpochLog(10, time_budget=1e-9)
    assert feed(log, [0.5, 0.4]) == 1 and log.close()[-1]["stop_reason"] == "time budget"
    log = EpochLog(10)
    log.stop("step limit")
    assert feed(log, [0.5]) == 1 and log.close()[-1]["stop_reason"] == "step limit"
    rows = EpochLog(10)
    feed(rows, [0.5, 0.4])  # stopped by an outside callback before the limit
    assert rows.close()[-1]["stop_reason"] == "patience"


@pytest.mark.parametrize("name, epochs", [("mlp", 200), ("tf-softmax", 5), ("tf-mlp", 8),
                                          ("cnn", 3)])
def test_on_mnist_the_plan_is_the_presets(name, epochs):
    classifier = get_classifier(name)
    classifier.chosen_params_, classifier.resolved_params_ = {}, {}
    settings = dict(classifier.PRESETS["adaptive"])
    batch = settings["batch_size"]
    assert classifier._plan(settings, MNIST_FIT) == (epochs, math.ceil(MNIST_FIT / batch))
    assert settings["batch_size"] == batch and classifier.chosen_params_ == {}


@pytest.mark.parametrize("name", NEURAL)
def test_small_data_get_smaller_batches_and_at_least_min_steps(name):
    classifier = get_classifier(name)
    classifier.chosen_params_, classifier.resolved_params_ = {}, {}
    settings = dict(classifier.PRESETS["adaptive"])
    epochs, steps = classifier._plan(settings, 1293)  # the digits' fitting images
    assert settings["batch_size"] == 1293 // settings["min_batches"]
    assert steps >= settings["min_batches"]
    assert epochs == max(settings["epochs"], math.ceil(settings["min_steps"] / steps))
    assert classifier.chosen_params_ == classifier.resolved_params_ == {
        "batch_size": settings["batch_size"]}
    # the smallest batch on tiny data, and never more images than there are
    assert classifier._plan(dict(classifier.PRESETS["adaptive"]), 100)[1] == math.ceil(100 / 16)
    assert classifier._plan(dict(classifier.PRESETS["adaptive"]), 10)[1] == 1


def test_given_epochs_and_batch_size_are_the_plan():
    classifier = get_classifier("tf-mlp", epochs=2, batch_size=64)
    classifier.chosen_params_, classifier.resolved_params_ = {}, {}
    settings = {**classifier.PRESETS["adaptive"], "epochs": 2, "batch_size": 64}
    assert classifier._plan(settings, 1293) == (2, math.ceil(1293 / 64))


def test_one_cycle_schedule_warms_up_then_decays_to_zero():
    import tensorflow as tf

    from mnistbench.classifiers.tf_mlp import learning_rate_schedule

    rate = learning_rate_schedule(1e-2, "one-cycle", 100)
    values = [float(rate(tf.constant(float(step)))) for step in (0, 10, 20, 60, 100)]
    assert values == pytest.approx([1e-3, 5.5e-3, 1e-2, 5e-3, 0.0], abs=1e-7)
    assert learning_rate_schedule(1e-2, "constant", 100)(tf.constant(5.0)) == 1e-2


@pytest.fixture(scope="module")
def adaptive_fits(digits):
    """Each neural default fitted on 600 digits with a short limit, the test set monitored."""
    fits = {}
    for name in NEURAL:
        fits[name] = get_classifier(name, epochs=TINY[name]["epochs"], random_state=0).fit(
            digits.X_train[:600], digits.y_train[:600],
            monitor=(digits.X_test, digits.y_test))
    return fits


@pytest.mark.parametrize("name", NEURAL)
def test_the_kept_epoch_is_the_presets_choice_and_its_weights_are_the_models(
        name, adaptive_fits, digits):
    classifier = adaptive_fits[name]
    history = pd.DataFrame(classifier.history_)
    kept = classifier.chosen_params_["kept_epoch"]
    if name == "cnn" and classifier.chosen_params_["stopped"] == "epoch limit":
        assert kept == len(history)  # its schedule ran to the end: the annealed weights
    else:
        assert kept == history["val_loss"].idxmin() + 1
    assert history["kept"].tolist() == [epoch == kept for epoch in history["epoch"]]
    # the fitted model is that epoch's network
    assert history["monitor_accuracy"][kept - 1] == pytest.approx(
        classifier.score(digits.X_test, digits.y_test))
    assert classifier.chosen_params_["stopped"] in ("patience", "epoch limit")


def test_fixed_presets_keep_the_last_epoch(digits):
    classifier = get_classifier("tf-mlp", preset="dense-128-64", epochs=2, random_state=0)
    classifier.fit(digits.X_train[:300], digits.y_train[:300])
    assert classifier.chosen_params_["kept_epoch"] == 2
    assert classifier.chosen_params_["stopped"] == "epoch limit"
    assert "batch_size" not in classifier.chosen_params_  # fixed presets keep their batch


def test_the_write_up_presets_are_unchanged():
    # the recipes the reference runs used, by the settings that decide the numbers
    assert {key: get_class("cnn").PRESETS["fast"][key]
            for key in ("epochs", "batch_size", "learning_rate")} == {
        "epochs": 3, "batch_size": 128, "learning_rate": 6e-3}
    assert get_class("tf-mlp").PRESETS["dense-256-128"]["epochs"] == 8
    assert get_class("tf-softmax").PRESETS["fast"]["epochs"] == 5
    assert get_class("mlp").PRESETS["adam-100"]["watch"] == "val_accuracy"
    for name in NEURAL:
        assert get_class(name)().preset == "adaptive"
        fixed = [preset for preset in get_class(name).PRESETS if preset != "adaptive"]
        assert all("min_steps" not in get_class(name).PRESETS[preset] for preset in fixed)


def test_report_names_why_each_configuration_stopped():
    def history(reason):
        return pd.DataFrame({"epoch": [1, 2], "stop_reason": [np.nan, reason]})
    runs = [history("patience"), history("epoch limit"), history("patience")]
    assert stop_reasons(runs) == "patience (2), epoch limit (1)"
    assert stop_reasons([pd.DataFrame({"epoch": [1]})]) == ""  # an old run's history


def test_a_nan_holdout_loss_is_no_gain():
    log = EpochLog(20, patience=2)
    assert feed(log, [0.5, float("nan"), float("nan"), 0.1]) == 3
    assert log.best_epoch == 1


def test_patience_waits_for_the_minimum_epochs():
    log = EpochLog(20, patience=1, min_epochs=4)
    assert feed(log, [0.5, 0.6, 0.7, 0.8, 0.9]) == 4
    assert log.stop_reason == "patience" and log.best_epoch == 1


def test_the_cnn_keeps_the_best_epoch_only_when_training_stopped_early():
    from mnistbench.classifiers.neural import restores_best

    settings = {"restore_best": "when stopped early"}
    for reason, restored in (("epoch limit", False), ("patience", True),
                             ("time budget", True), (None, True)):
        log = EpochLog(5)
        log.stop_reason = reason
        assert restores_best(settings, log) is restored
    assert restores_best({"restore_best": True}, log) and not restores_best({}, log)
