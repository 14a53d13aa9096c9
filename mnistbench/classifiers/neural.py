"""What the neural-network adapters share: presets, the common parameters, per-epoch history.

Every neural adapter takes ``preset`` plus the parameters of :class:`NeuralClassifier`, scales
0-255 pixels to [0, 1] itself, validates on :func:`~mnistbench.datasets.holdout_split` (never
the test set) and, after ``fit``, holds ``history_`` (one dict per epoch) and
``chosen_params_`` (the preset, overrides and what fit decided). TensorFlow is imported
inside methods only.
"""

import contextlib
import json
import math
import time

import numpy as np

from mnistbench.classifiers.base import (DigitClassifier, check_choice, check_fraction,
                                         check_in_range, check_positive, scaled)
from mnistbench.classifiers.presets import merged_settings, preset_settings

OVERRIDES = ("epochs", "batch_size", "learning_rate")  # parameters that override a preset
FITTED_FILE = "fitted.json"
SMALLEST_BATCH = 16  # the least batch size an adaptive preset goes down to on small data
CLASSES_FILE = "classes.npy"
# saved as JSON; models saved before resolved_params_ existed load without it
FITTED_ATTRIBUTES = ("n_features_in_", "image_shape_", "history_", "chosen_params_",
                     "resolved_params_")


class NeuralClassifier(DigitClassifier):
    """Base for the neural adapters.

    Subclasses set ``PRESETS`` (name -> dict of settings, each with a ``description``) and an
    ``__init__`` taking ``preset`` and the parameters below.

    Parameters
    ----------
    preset : str
        Named set of architecture and training settings; see the class's ``PRESETS``.
    epochs, batch_size, learning_rate : optional
        Override the preset's value when given. For presets that stop early, ``epochs`` is the
        maximum.
    time_budget : float, optional
        Seconds of training; training stops after the epoch that crosses it.
    validation_fraction : float
        Share of the training data, taken from its end, held out for validation metrics and
        early stopping.
    augment, augment_holdout
        Training-set augmentation and whether the holdout gets it too (see
        :class:`~mnistbench.classifiers.base.DigitClassifier`).
    random_state : int, optional
        Seed; the same seed gives the same predictions on the same machine.
    verbose : int
        0 is quiet, 1 shows a progress bar.
    """

    PRESETS = {}
    BACKEND_MODULES = ("tensorflow",)
    HOLDOUT = True

    def fit(self, X, y, monitor=None):
        """Fit to images ``X`` and labels ``y``; returns ``self``.

        Parameters
        ----------
        monitor : tuple (X, y), optional
            Images and labels scored after every epoch, into ``history_`` as
            ``monitor_accuracy``, to draw a time-to-accuracy curve (the benchmarks pass the test
            set). Nothing is ever decided on it, and the time it takes is left out of
            ``seconds`` and out of the time budget.

        After fitting, ``log_seconds_`` holds the seconds spent only on logging (the monitor,
        a training-set accuracy pass), which the runner leaves out of the fit time.
        """
        self._monitor = monitor
        try:
            super().fit(X, y)
        finally:
            del self._monitor
        self.log_seconds_ = self._log.untimed_seconds
        del self._log
        return self

    def _plan(self, settings, n_fit):
        """``(epoch limit, optimizer steps per epoch)`` of a fit on ``n_fit`` images.

        Where the preset has them, small data get smaller batches, for at least
        ``min_batches`` steps an epoch (never under 16 images nor over ``n_fit``; not when
        ``batch_size`` is given), and a limit raised to at least ``min_steps`` optimizer steps
        (not when ``epochs`` is given: then it is the limit). ``settings["batch_size"]`` is
        updated, and a batch size so chosen is recorded in ``chosen_params_`` and
        ``resolved_params_``.
        """
        if self.batch_size is None and settings.get("min_batches"):
            batch = min(max(min(settings["batch_size"], n_fit // settings["min_batches"]),
                            SMALLEST_BATCH), max(n_fit, 1))
            if batch != settings["batch_size"]:
                settings["batch_size"] = self.chosen_params_["batch_size"] = batch
                self.resolved_params_["batch_size"] = batch
        steps = math.ceil(n_fit / settings["batch_size"])
        epochs = settings["epochs"]
        if self.epochs is None and settings.get("min_steps"):
            epochs = max(epochs, math.ceil(settings["min_steps"] / steps))
        return epochs, steps

    def _epoch_log(self, settings, plan, predict_proba, verbose=None):
        """An :class:`EpochLog` for a fit planned as ``plan`` (see :meth:`_plan`), stopping as
        ``settings`` say: ``patience`` epochs without a ``min_delta`` gain in ``watch``, not
        before ``min_steps`` optimizer steps have run; the time budget is ``time_budget``,
        else the preset's ``seconds``. ``predict_proba`` maps scaled flat pixels to the
        probabilities of the network as it is now (used only with a ``monitor``)."""
        score = None
        if self._monitor is not None:
            X_monitor = scaled(self._pixels(self._monitor[0]))
            y_monitor = np.asarray(self._monitor[1])

            def monitor_score():
                predicted = self.classes_[predict_proba(X_monitor).argmax(axis=1)]
                return float(np.mean(predicted == y_monitor))
            score = monitor_score
        budget = self.time_budget if self.time_budget is not None else settings.get("seconds")
        epochs, steps_per_epoch = plan
        self._log = EpochLog(epochs, budget, self.verbose if verbose is None else verbose,
                             score, patience=settings.get("patience"),
                             min_delta=settings.get("min_delta", 0.0),
                             watch=settings.get("watch", "val_loss"),
                             min_epochs=math.ceil(settings.get("min_steps", 0) / steps_per_epoch))
        return self._log

    def _close_log(self, log, restore_best):
        """``history_`` from ``log``, and in ``chosen_params_`` the epochs run, the epoch whose
        weights were kept (the best one's if ``restore_best``, else the last) and why training
        stopped."""
        self.history_ = log.close(log.best_epoch if restore_best else None)
        self.chosen_params_.update(
            epochs_run=len(self.history_), stopped=self.history_[-1]["stop_reason"],
            kept_epoch=next(row["epoch"] for row in self.history_ if row["kept"]))

    def check_params(self):
        check_choice("preset", self.preset, tuple(self.PRESETS))
        for name in ("epochs", "batch_size"):
            if getattr(self, name) is not None:
                check_in_range(name, getattr(self, name), 1)
        for name in ("learning_rate", "time_budget"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        check_fraction("validation_fraction", self.validation_fraction)
        check_in_range("verbose", self.verbose, 0, 2)

    def _settings(self):
        """The preset's settings with the given overrides.

        ``chosen_params_`` starts as the preset's name and the overrides, and ``fit`` adds what
        it decides; ``resolved_params_`` holds every setting.
        """
        return preset_settings(self, OVERRIDES)

    def _preset_settings(self):
        """``(settings, overrides)``: the preset's settings with the given overrides, and the
        overrides alone; nothing is set on the estimator."""
        return merged_settings(self, OVERRIDES)

    def memory_estimate(self, n_fit, n_predict, n_features, n_classes):
        """Three float32 copies of the training images (scaled, split, handed to the framework)
        and the activations of the larger pass: a training batch keeps every layer's output
        with its gradient and a temporary, a prediction chunk two layers' outputs at a time
        (see :meth:`_network_size`)."""
        batch = self._preset_settings()[0]["batch_size"]
        sizes, rows, bytes_per_number = self._network_size(n_fit, n_predict, n_features,
                                                           n_classes)
        training = 3 * batch * sum(sizes)
        predicting = rows * max(a + b for a, b in zip(sizes, sizes[1:]))
        what = f"a training batch of {batch}" if training >= predicting \
            else f"prediction on {rows:,} images at once"
        return {"float32 copies of the training images": 12 * n_fit * n_features,
                f"network activations for {what}": bytes_per_number * max(training, predicting)}

    def _network_size(self, n_fit, n_predict, n_features, n_classes):
        """``(numbers one image gives at each layer, input first; rows of the largest
        prediction pass; bytes per number)``."""
        raise NotImplementedError

    def _holdout(self, X, y):
        """``(X_fit, y_fit, X_val, y_val)`` with pixels scaled to [0, 1]."""
        X_fit, y_fit, X_val, y_val = super()._holdout(X, y)
        return scaled(X_fit), y_fit, scaled(X_val), y_val

    def _compile(self):
        """Build the fitted network's forward passes (at the end of fit, and on loading and
        unpickling), so that predict changes nothing on the estimator."""

    def __getstate__(self):
        # not the compiled forward passes (functions cannot be pickled): they are rebuilt
        return {key: value for key, value in super().__getstate__().items()
                if key not in ("_forward", "_numpy_forward")}

    def __setstate__(self, state):
        super().__setstate__(state)
        if hasattr(self, "classes_"):
            self.import_backend()
            self._compile()

    # Saving, used by mnistbench.classifiers.persistence: plain fitted values go to JSON and .npy
    # (no pickle), the network to the subclass's _save_weights format.

    def _save_network(self, directory):
        np.save(directory / CLASSES_FILE, self.classes_, allow_pickle=False)
        fitted = {name: getattr(self, name) for name in FITTED_ATTRIBUTES}
        (directory / FITTED_FILE).write_text(json.dumps(fitted, indent=1))
        return [CLASSES_FILE, FITTED_FILE, *self._save_weights(directory)]

    def _load_network(self, directory):
        self.import_backend()
        self.classes_ = np.load(directory / CLASSES_FILE, allow_pickle=False)
        fitted = json.loads((directory / FITTED_FILE).read_text())
        for name in FITTED_ATTRIBUTES:
            if name in fitted:
                setattr(self, name, fitted[name])
        self._load_weights(directory)


def restores_best(settings, log):
    """Whether the fitted model takes the weights of ``log``'s best epoch: never without
    ``restore_best``, always with ``True``, and with ``"when stopped early"`` only when
    training ended before its epoch limit; a schedule that ran to its end gives its last,
    annealed weights."""
    rule = settings.get("restore_best", False)
    if rule == "when stopped early":
        return log.stop_reason != "epoch limit"
    return bool(rule)


def predict_in_chunks(forward, X, rows):
    """``forward`` (a compiled function returning a tensor or array) applied to ``rows`` rows of
    ``X`` at a time, joined into one NumPy array (bounded memory for big test sets; one call
    for one image)."""
    return np.concatenate([np.asarray(forward(X[start:start + rows]))
                           for start in range(0, max(len(X), 1), rows)])


class EpochLog:
    """Collects ``history_`` rows, shows progress and decides when training stops.

    Training stops at the epoch limit, after the epoch that spends the time budget, or after
    ``patience`` epochs in a row that do not improve the ``watch``-ed holdout quantity
    (``val_loss``, lower is better, or ``val_accuracy``) by more than ``min_delta``, once
    ``min_epochs`` epochs have run;
    :meth:`stop` records another reason (a step limit). After each epoch, ``improved`` says
    whether it is the best so far (strictly), for adapters that keep the best weights.

    ``monitor``, if given, is called after each epoch for ``monitor_accuracy``. Its time, and
    that of any block run under :meth:`untimed`, is left out of ``seconds`` and counted in
    ``untimed_seconds``.
    """

    def __init__(self, epochs, time_budget=None, verbose=0, monitor=None, patience=None,
                 min_delta=0.0, watch="val_loss", min_epochs=0):
        from tqdm.auto import tqdm

        self.rows = []
        self.epochs = epochs
        self.time_budget = time_budget
        self.monitor = monitor
        self.patience, self.min_delta, self.min_epochs = patience, min_delta, min_epochs
        self.watch = watch
        self.best, self.best_epoch, self.stale, self.improved = -math.inf, 0, 0, False
        self.stop_reason = None
        self.start = time.perf_counter()
        self.untimed_seconds = 0.0
        self.bar = tqdm(total=epochs, unit="epoch", disable=not verbose, leave=False)

    @contextlib.contextmanager
    def untimed(self):
        """A block whose time is logging, not training."""
        begin = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - begin
            self.start += spent
            self.untimed_seconds += spent

    def add(self, loss, accuracy, val_loss, val_accuracy):
        """Record one epoch; return False once training should stop."""
        row = {"epoch": len(self.rows) + 1, "loss": float(loss), "accuracy": float(accuracy),
               "val_loss": float(val_loss), "val_accuracy": float(val_accuracy),
               "seconds": time.perf_counter() - self.start}
        if self.monitor is not None:
            with self.untimed():
                row["monitor_accuracy"] = self.monitor()
        self.rows.append(row)
        self.bar.update()
        self.bar.set_postfix(loss=f"{row['loss']:.4f}", val_accuracy=f"{val_accuracy:.4f}")
        # scikit-learn's rule: an epoch that does not beat the best by min_delta is stale
        # (written so that a NaN loss is stale too)
        score = -row[self.watch] if self.watch.endswith("loss") else row[self.watch]
        self.stale = 0 if score >= self.best + self.min_delta else self.stale + 1
        self.improved = score > self.best
        if self.improved:
            self.best, self.best_epoch = score, row["epoch"]
        if row["epoch"] >= self.epochs:
            self.stop("epoch limit")
        elif self.time_budget is not None and row["seconds"] >= self.time_budget:
            self.stop("time budget")
        elif self.patience is not None and self.stale >= self.patience \
                and row["epoch"] >= self.min_epochs:
            self.stop("patience")
        return self.stop_reason is None

    def stop(self, reason):
        """Record why training stopped (the first reason given wins)."""
        self.stop_reason = self.stop_reason or reason

    def close(self, kept_epoch=None):
        """Close the progress bar; return the history rows, each with ``kept`` (whether its
        weights are the fitted model's: ``kept_epoch``, by default the last) and, on the last
        row, ``stop_reason``."""
        self.bar.close()
        kept_epoch = kept_epoch or len(self.rows)
        for row in self.rows:
            row["kept"] = row["epoch"] == kept_epoch
            row["stop_reason"] = ""
        if self.rows:
            # an outside stopper (Keras' EarlyStopping) ends training before the limit
            self.rows[-1]["stop_reason"] = self.stop_reason or (
                "epoch limit" if len(self.rows) >= self.epochs else "patience")
        return self.rows
