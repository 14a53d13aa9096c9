"""The neural adapters on tiny data: reference accuracy, documented architectures, seeds,
history, saving and loading (every algorithm), and TensorFlow staying unimported until fit."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mnistbench
from conftest import TINY
from mnistbench.errors import DataError, ParameterError
from mnistbench.classifiers.persistence import save_model
from mnistbench.classifiers.registry import algorithm_names, get_class, get_classifier

NEURAL = ("mlp", "tf-softmax", "tf-mlp", "cnn")
HISTORY_KEYS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "kept",
                "stop_reason"]


def fit_tiny(name, digits, **params):
    seed = {"random_state": 0} if "random_state" in get_class(name)().get_params() else {}
    classifier = get_classifier(name, **{**seed, **TINY.get(name, {}), **params})
    return classifier.fit(digits.X_train, digits.y_train)


@pytest.fixture
def fitted(tiny_fit):
    """``fitted(name)``: the algorithm fitted on the digits with its tiny settings, the fit
    this session's other modules share (none of these tests changes it)."""
    return lambda name: tiny_fit(name)[0]


def test_importing_and_listing_never_imports_tensorflow():
    code = """if True:
        import contextlib, io, sys
        import mnistbench.classifiers.cnn, mnistbench.classifiers.tf_mlp
        import mnistbench.classifiers.tf_softmax, mnistbench.classifiers.mlp
        import mnistbench.classifiers.persistence
        from mnistbench.cli import main
        from mnistbench.classifiers.registry import algorithm_names, get_class, get_classifier
        for name in algorithm_names():
            get_classifier(name).get_params()
        with contextlib.redirect_stdout(io.StringIO()):
            main(["--list"])
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


QUIET_SCRIPT = """if True:
    import numpy as np
    from mnistbench.classifiers.registry import get_classifier
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 256, (120, 8, 8), dtype=np.uint8), np.arange(120) % 10
    for seed in range(6):  # more fits than TensorFlow's retracing warning lets pass
        model = get_classifier("tf-mlp", epochs=1, random_state=seed).fit(X, y)
        model.predict(X[:3]), model.predict_proba(X[:5] / 255)
    print("fitted")
"""


@pytest.mark.parametrize("level", [None, "2"])
def test_a_script_using_the_tensorflow_adapters_prints_nothing_on_stderr(monkeypatch, level):
    if level is not None:  # a level the user exported is kept, and TensorFlow stays quiet
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    result = subprocess.run([sys.executable, "-c", QUIET_SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "fitted\n" and result.stderr == ""


def test_tensorflow_notices_and_retracing_warnings_show_at_level_0(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # what the command line's --verbose sets
    result = subprocess.run([sys.executable, "-c", QUIET_SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0 and "oneDNN" in result.stderr
    assert "triggered tf.function retracing" in result.stderr


def test_tf_softmax_matches_logistic_regression(fitted, digits):
    X_train, X_test = (X.reshape(len(X), -1) / 255 for X in (digits.X_train, digits.X_test))
    reference = LogisticRegression(max_iter=5000).fit(X_train, digits.y_train)
    ours = fitted("tf-softmax").score(digits.X_test, digits.y_test)
    assert ours >= reference.score(X_test, digits.y_test) - 0.02


def layer_shapes(model):
    return [tuple(layer.output.shape[1:]) for layer in model.layers]


def test_cnn_presets_build_the_documented_networks():
    from mnistbench.classifiers.cnn import build_network

    small = build_network("small", (28, 28), 10)
    assert layer_shapes(small) == [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (1600,),
                                   (1600,), (10,)]
    assert small.count_params() == 34_826
    deep = build_network("deep", (28, 28), 10)
    assert deep.count_params() == 3_425_386
    convolutions = [layer for layer in deep.layers if type(layer).__name__ == "Conv2D"]
    assert [(layer.filters, layer.kernel_size[0]) for layer in convolutions] == [
        (32, 3), (32, 3), (32, 5), (64, 3), (64, 3), (64, 5), (32, 3)]
    assert [type(layer).__name__ for layer in deep.layers].count("BatchNormalization") == 6
    assert layer_shapes(deep)[-6:] == [(28, 28, 32), (25_088,), (25_088,), (128,), (128,), (10,)]
    fast = build_network("fast", (28, 28), 10)
    assert layer_shapes(fast)[-4:] == [(1600,), (128,), (128,), (10,)]
    normed = build_network("normed", (28, 28), 10)  # the fast net, batch norm before each ReLU
    assert [type(layer).__name__ for layer in normed.layers][:8] == [
        "Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D"] * 2
    assert layer_shapes(normed)[-4:] == layer_shapes(fast)[-4:]
    assert normed.count_params() == fast.count_params() + 4 * (32 + 64)  # scale, shift, mean, var
    assert normed.layers[-2].rate == 0.5
    assert {layer.momentum for layer in normed.layers
            if type(layer).__name__ == "BatchNormalization"} == {0.9}
    strided = build_network("strided", (28, 28), 10)
    assert strided.count_params() == 327_242
    assert [tuple(layer.output.shape[1:]) for layer in strided.layers
            if type(layer).__name__ == "Conv2D"] == [
        (26, 26, 32), (24, 24, 32), (12, 12, 32), (10, 10, 64), (8, 8, 64), (4, 4, 64),
        (1, 1, 128)]
    # smaller images are upscaled first, so the networks stay the same
    assert layer_shapes(build_network("small", (8, 8), 10))[0] == (28, 28, 1)
    assert build_network("deep", (8, 8), 10).count_params() == 3_425_386


def test_cnn_reads_rows_that_are_not_squares_as_one_row_of_pixels(digits):
    X = digits.X_train.reshape(-1, 64)[:200, :60]  # 60 pixels: no image shape to restore
    cnn = get_classifier("cnn", epochs=1, random_state=0).fit(X, digits.y_train[:200])
    assert cnn.model_.input_shape == (None, 1, 60, 1)
    np.testing.assert_array_equal(cnn.predict(X[:1]), cnn.predict(X[:20])[:1])
    with pytest.raises(ValueError, match="square one-channel images; got images of shape"):
        cnn.fit(digits.X_train[:200, :, :6], digits.y_train[:200])
    assert cnn.model_.input_shape == (None, 1, 60, 1)  # the refused fit changed nothing


@pytest.mark.parametrize("preset", ["small", "deep", "best"])
def test_cnn_presets_train(preset, digits):
    # deep: augmentation, plateau halving, early stopping and best-loss restore all run
    classifier = get_classifier("cnn", preset=preset, epochs=2, batch_size=32, random_state=0)
    classifier.fit(digits.X_train[:160], digits.y_train[:160])
    assert len(classifier.history_) == 2
    assert classifier.predict(digits.X_test[:5]).shape == (5,)


@pytest.mark.parametrize("preset, shapes", [
    ("dense-256-128", [(64, 256), (256,), (256, 128), (128,), (128, 10), (10,)]),
    ("dense-128-64", [(64, 128), (128,), (128, 64), (64,), (64, 10), (10,)]),
    ("dense-1000-250-100", [(64, 1000), (1000,), (1000, 250), (250,), (250, 100), (100,),
                            (100, 10), (10,)]),
])
def test_tf_mlp_presets_build_the_documented_networks(preset, shapes, digits):
    classifier = fit_tiny("tf-mlp", digits, preset=preset, epochs=1)
    assert [w.shape for w in classifier.weights_] == shapes


def test_tf_mlp_step_count_preset_stops_mid_epoch(digits):
    classifier = fit_tiny("tf-mlp", digits, preset="dense-1000-250-100", batch_size=1,
                          epochs=None)
    assert len(classifier.history_) == 1  # 1,000 of the epoch's 1,293 steps


def test_softmax_and_sklearn_mlp_shapes(fitted):
    assert [w.shape for w in fitted("tf-softmax").weights_] == [(64, 10), (10,)]
    assert [w.shape for w in fitted("mlp").model_.coefs_] == [(64, 100), (100, 10)]


@pytest.mark.parametrize("name", NEURAL)
def test_same_seed_gives_identical_predictions(name, fitted, digits):
    again = fit_tiny(name, digits)
    np.testing.assert_array_equal(again.predict_proba(digits.X_test),
                                  fitted(name).predict_proba(digits.X_test))


@pytest.mark.parametrize("name", NEURAL)
def test_history_and_chosen_params(name, fitted):
    classifier = fitted(name)
    history = classifier.history_
    assert all(list(row) == HISTORY_KEYS for row in history)
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    assert all(a["seconds"] < b["seconds"] for a, b in zip(history, history[1:]))
    assert 0.5 < history[-1]["val_accuracy"] <= 1
    # the epoch limit, or patience before it: one reason, on the last row; one kept epoch
    chosen = classifier.chosen_params_
    assert len(history) == chosen["epochs_run"] <= TINY[name]["epochs"]
    assert [row["stop_reason"] for row in history] == [""] * (len(history) - 1) + [
        chosen["stopped"]]
    assert chosen["stopped"] == ("epoch limit" if len(history) == TINY[name]["epochs"]
                                 else "patience")
    assert [row["epoch"] for row in history if row["kept"]] == [chosen["kept_epoch"]]
    assert chosen["preset"] == classifier.preset
    assert chosen["epochs"] == TINY[name]["epochs"]


@pytest.mark.parametrize("name", NEURAL)
def test_resolved_params_hold_the_preset_with_its_overrides(name, fitted):
    classifier = fitted(name)
    preset = {key: value for key, value in classifier.PRESETS[classifier.preset].items()
              if key != "description"}
    resolved = classifier.resolved_params_
    # on the 1,293 digits an adaptive preset takes smaller batches (and the cnn its small-data
    # network), and records them
    chosen = {key: value for key, value in classifier.chosen_params_.items()
              if key in ("batch_size", "architecture")}
    assert resolved == {**classifier.get_params(), **preset, **TINY[name], **chosen}
    assert name != "cnn" or chosen["architecture"] == "normed"
    assert resolved["random_state"] == 0


def test_the_mlp_training_accuracy_pass_is_logging_time(fitted):
    mlp = fitted("mlp")
    assert mlp.log_seconds_ > 0  # a pass over the training set per epoch, left out of fit_s
    assert {fitted(name).log_seconds_ for name in NEURAL if name != "mlp"} == {0.0}


def test_the_runner_warm_up_takes_the_batch_path(fitted, digits, tmp_path):
    from mnistbench.run.job import WARMUP_ROWS

    save_model(fitted("cnn"), tmp_path / "cnn")
    cnn = mnistbench.load_model(tmp_path / "cnn")
    cnn.predict(digits.X_test[:1])
    # one image goes through NumPy and warms nothing for a batch
    assert cnn._forward.compiled.experimental_get_tracing_count() == 0
    cnn.predict(digits.X_test[:WARMUP_ROWS])
    assert cnn._forward.compiled.experimental_get_tracing_count() == 1
    cnn.predict(digits.X_test)
    # nothing traced in the timed call
    assert cnn._forward.compiled.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("name", NEURAL)
def test_time_budget_stops_after_the_epoch_that_crosses_it(name, digits):
    assert len(fit_tiny(name, digits, time_budget=1e-6).history_) == 1


@pytest.mark.parametrize("params", [{"preset": "huge"}, {"epochs": 0}, {"learning_rate": 0},
                                    {"time_budget": -1}, {"batch_size": 2.5}, {"verbose": 3}])
@pytest.mark.parametrize("name", NEURAL)
def test_invalid_parameters_are_refused_before_fit(name, params):
    with pytest.raises(ParameterError):
        get_classifier(name, **params)


def test_quiet_unless_verbose(capsys, digits):
    fit_tiny("tf-softmax", digits, epochs=2)
    assert capsys.readouterr().err == ""
    fit_tiny("tf-softmax", digits, epochs=2, verbose=1)
    assert "epoch" in capsys.readouterr().err


@pytest.mark.parametrize("name", algorithm_names())
def test_saved_model_loads_and_predicts_the_same(name, fitted, digits, tmp_path):
    model = fitted(name)
    save_model(model, tmp_path / "model")
    loaded = mnistbench.load_model(tmp_path / "model")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(digits.X_test),
                                  model.predict_proba(digits.X_test))
    np.testing.assert_array_equal(loaded.predict(digits.X_test[:1]),
                                  model.predict(digits.X_test[:1]))
    for attribute in ("classes_", "n_features_in_", "history_", "chosen_params_",
                      "resolved_params_"):
        if hasattr(model, attribute):
            np.testing.assert_equal(getattr(loaded, attribute), getattr(model, attribute))


@pytest.mark.parametrize("name", ["tf-mlp", "cnn"])
def test_fitted_networks_pickle(name, fitted, digits):
    model = fitted(name)
    expected = model.predict_proba(digits.X_test)  # builds the compiled forward pass
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(digits.X_test), expected)
    assert model._forward is not None  # pickling left the original untouched


def test_a_model_saved_before_resolved_params_still_loads(fitted, digits, tmp_path):
    save_model(fitted("tf-softmax"), tmp_path)
    record = json.loads((tmp_path / "fitted.json").read_text())
    del record["resolved_params_"]
    (tmp_path / "fitted.json").write_text(json.dumps(record))
    loaded = mnistbench.load_model(tmp_path)
    np.testing.assert_array_equal(loaded.predict(digits.X_test),
                                  fitted("tf-softmax").predict(digits.X_test))


def test_saving_again_replaces_the_previous_model(fitted, tmp_path):
    save_model(fitted("tree"), tmp_path)
    save_model(fitted("tf-softmax"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "classes.npy", "fitted.json", "mnistbench-model.json", "weights.npz"]
    assert type(mnistbench.load_model(tmp_path)).__name__ == "TFSoftmax"


def test_refuses_to_save_into_a_foreign_directory(fitted, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        save_model(fitted("tree"), tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        save_model(fitted("tree"), tmp_path / "notes.txt")


def test_loading_what_is_not_a_model_is_a_data_error(fitted, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        mnistbench.load_model(tmp_path / "missing")
    with pytest.raises(DataError, match="not a saved mnistbench model"):
        mnistbench.load_model(tmp_path)
    manifest = tmp_path / "mnistbench-model.json"
    manifest.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        mnistbench.load_model(tmp_path)
    manifest.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not an mnistbench model manifest"):
        mnistbench.load_model(tmp_path)

    saved = tmp_path / "saved"
    save_model(fitted("tf-softmax"), saved)
    good = json.loads((saved / "mnistbench-model.json").read_text())
    for change, message in [({"class": "os:system"}, "not a registered"),
                            ({"files": ["../../etc/passwd"]}, "not an mnistbench model"),
                            ({"version": 99}, "version 99")]:
        (saved / "mnistbench-model.json").write_text(json.dumps({**good, **change}))
        with pytest.raises(DataError, match=message):
            mnistbench.load_model(saved)
    (saved / "mnistbench-model.json").write_text(json.dumps(good))
    (saved / "weights.npz").write_bytes(b"damaged")
    with pytest.raises(DataError, match="could not be read"):
        mnistbench.load_model(saved)
    (saved / "weights.npz").unlink()
    with pytest.raises(DataError, match="weights.npz missing"):
        mnistbench.load_model(saved)


@pytest.mark.parametrize("name", NEURAL)
def test_monitor_records_accuracy_without_changing_the_model(name, fitted, digits):
    plain = fitted(name)
    monitored = get_classifier(name, random_state=0, **TINY[name]).fit(
        digits.X_train, digits.y_train, monitor=(digits.X_test, digits.y_test))
    np.testing.assert_array_equal(monitored.predict(digits.X_test), plain.predict(digits.X_test))
    # the epoch whose weights the model kept (the best one where the preset restores it)
    kept = monitored.history_[monitored.chosen_params_["kept_epoch"] - 1]
    assert kept["monitor_accuracy"] == pytest.approx(monitored.score(digits.X_test, digits.y_test))
    assert "monitor_accuracy" not in plain.history_[-1]
    assert not hasattr(monitored, "_monitor")


def test_bfloat16_policy_keeps_float32_output_and_global_policy():
    import keras

    from mnistbench.classifiers.cnn import build_network, dtype_policy

    model = build_network("fast", (28, 28), 10, "mixed_bfloat16")
    assert model.layers[0].compute_dtype == "bfloat16"
    assert model.layers[0].variable_dtype == "float32"
    assert model.layers[-1].compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"
    assert dtype_policy("float32", "cpu") == "float32"
    assert dtype_policy("auto", "cpu") in ("float32", "mixed_bfloat16")
    assert dtype_policy("auto", "gpu:NVIDIA H100") == "float32"


@pytest.mark.parametrize("name", ["tf-softmax", "tf-mlp"])
def test_eight_bit_and_float_pixels_give_identical_probabilities(name, fitted, digits):
    # 8-bit pixels are scaled inside the TensorFlow graph, by the same float32 operations
    classifier = fitted(name)
    np.testing.assert_array_equal(classifier.predict_proba(digits.X_test),
                                  classifier.predict_proba(digits.X_test.astype(np.float64)))


def test_the_adaptive_cnn_takes_its_regularised_network_on_small_data_only():
    """Under 50 batches of 128 fitting images the adaptive cnn is the normed network (chosen on
    the digits' development split); MNIST and Fashion-MNIST keep the fast one, whatever batch is
    given, and the fixed presets keep theirs."""
    from mnistbench.classifiers.cnn import CNN

    assert CNN()._architecture(1_293) == CNN()._architecture(6_399) == "normed"
    assert CNN()._architecture(6_400) == CNN()._architecture(54_000) == "fast"
    assert CNN(batch_size=16)._architecture(54_000) == "fast"
    assert CNN(batch_size=512)._architecture(1_293) == "normed"
    assert CNN(preset="fast")._architecture(1_293) == "fast"
    assert CNN(preset="sprint")._architecture(1_293) == "sprint"
