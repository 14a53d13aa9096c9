"""The ``sprint`` CNN preset: the network its description names, and a fit that runs every
step of its two epochs with several steps per compiled call."""

import math

import pytest

from mnistbench.classifiers.registry import get_classifier

pytest.importorskip("keras")


def test_sprint_builds_the_documented_network():
    from mnistbench.classifiers.cnn import build_network

    model = build_network("sprint", (28, 28), 10)
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == [
        (26, 26, 8), (13, 13, 8), (11, 11, 48), (5, 5, 48), (1200,), (128,), (10,)]
    assert model.count_params() == 158_602


def test_sprint_fits_every_step_of_its_epochs(digits):
    X, y = digits.X_train[:600], digits.y_train[:600]
    sprint = get_classifier("cnn", preset="sprint", random_state=0).fit(X, y)
    assert len(sprint.history_) == 2
    # 540 training images in batches of 250: 3 steps an epoch, run as one call of 3, not 8
    assert int(sprint.model_.optimizer.iterations) == 2 * math.ceil(540 / 250)
    assert sprint.predict(digits.X_test[:5]).shape == (5,)


@pytest.mark.parametrize("backend, steps_per_epoch, steps", [
    ("tensorflow", 216, 8), ("jax", 216, 8), ("torch", 216, 1),  # MNIST's 54,000 by 250
    ("tensorflow", 211, 1), ("tensorflow", 3, 3), ("tensorflow", 90, 6)])
def test_steps_per_call_divides_each_epoch(backend, steps_per_epoch, steps):
    from mnistbench.classifiers.cnn import PRESETS, steps_per_call

    assert steps_per_call(PRESETS["sprint"], backend, steps_per_epoch) == steps
    assert steps_per_call(PRESETS["fast"], backend, steps_per_epoch) == 1
