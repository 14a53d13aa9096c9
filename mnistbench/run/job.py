"""One job, in named stages: data and conditions, memory check, timed fit, warm-up, timed
predict under each condition, single-image latency, tables, summary row, saved model.

The timing protocol, in full: ``fit_s`` is the wall time of ``fit`` less what the adapter spent
only on logging (``log_seconds_``); before anything is timed on the test set, one ``predict`` of
:data:`WARMUP_ROWS` images takes the same path (graph tracing, caches); ``predict_s`` is then one
batch ``predict`` of the clean test set, and each other condition is timed the same way (one
pass of ``predict_proba`` where ``predict`` is its arg-max); latency is ``predict`` on one image
at a time (:func:`~mnistbench.run.timing.single_image_latencies`). A framework's import is done
before the fit is timed: importing TensorFlow is not training.

A job never raises: a failure is its summary row (``status="error"``, ``error``), and a job that
would not fit in memory is refused before it starts (``status="refused"``).
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mnistbench.analysis.metrics import condition_tables, latency_percentiles
from mnistbench.analysis.shifts import selective_table, shift_table
from mnistbench.classifiers.persistence import save_model as save_to
from mnistbench.datasets import load_dataset
from mnistbench.datasets.transforms import parse_transforms
from mnistbench.run.conditions import condition_sets
from mnistbench.run.environment import installed_versions, utc_now
from mnistbench.run.memory import NotEnoughMemory, check_memory
from mnistbench.run.schema import CLEAN, summary_row, tagged_tables
from mnistbench.run.spec import JobSpec, build_classifier, to_builtin
from mnistbench.run.timing import single_image_latencies, timed

# the warm-up batch is larger than any adapter's small-batch path (the CNN sends up to 8 images
# through NumPy), so graph tracing and the like happen before the timed batch predict
WARMUP_ROWS = 256


@dataclass
class JobResult:
    """What a job sends back: its summary row, long tables, per-condition probabilities."""

    spec: JobSpec
    record: dict
    tables: dict = field(default_factory=dict)
    probabilities: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # into job.json: classes, per-condition metrics


def run_job(spec, experiment, progress=None):
    """Fit, evaluate and time one job of ``experiment`` (its ``data_dir``, ``shifts``,
    ``target_accuracy`` and ``save_models``); return its :class:`JobResult`.

    The per-image outputs under each condition (``test``, the shifts and, for a spec with a
    holdout, ``holdout``: see :mod:`mnistbench.run.conditions`) are the labels and the class
    probabilities (confidence is their maximum). Its ``shifts`` and ``selective`` tables hold a
    row per condition, the latter with the threshold chosen on the holdout for the target
    accuracy if there is one.
    """
    say = progress or (lambda line: None)
    tag = f"[{spec.job_id}]"
    result = JobResult(spec, summary_row(spec, utc_now()))
    record = result.record
    try:
        data, X_fit, y_fit, conditions = data_and_conditions(spec, experiment, record)
        # progress bars only on a terminal: in a log file they are walls of carriage returns
        classifier = build_classifier(spec, verbose=progress is not None and sys.stderr.isatty())
        classifier.import_backend()  # a framework's import time is not training time
        check_job_memory(classifier, X_fit, conditions, len(data.class_names))
        say(f"{tag} fitting on {len(X_fit):,} images (seed {spec.seed})")
        record.update(timed_fit(classifier, X_fit, y_fit))
        say(f"{tag} fitted in {record['fit_s']:.1f} s; evaluating"
            + (f" on {len(conditions)} conditions" if len(conditions) > 1 else ""))
        warm_up(classifier, data.X_test)
        outputs, predict_seconds = timed_predictions(classifier, conditions)
        record.update(predict_s=predict_seconds[CLEAN],
                      images_per_s=len(data.X_test) / predict_seconds[CLEAN],
                      **latency(classifier, data.X_test))
        summaries, result.tables = scored_tables(outputs, np.arange(len(data.class_names)),
                                                 experiment.target_accuracy)
        record.update(summaries[CLEAN], status="ok", **learned_columns(classifier))
        result.probabilities = {condition: np.asarray(probabilities, dtype=np.float32)
                                for condition, (_, _, probabilities) in outputs.items()}
        result.extra = {"classes": to_builtin(classifier.classes_), "conditions": {
            condition: {**summaries[condition], "predict_s": predict_seconds[condition]}
            for condition in outputs}}
        result.tables.update(adapter_tables(classifier))
        say(f"{tag} accuracy {record['accuracy']:.2%}")
    except NotEnoughMemory as exc:  # refused before it starts, not killed by the system later
        record.update(status="refused", error=f"NotEnoughMemory: {exc}")
        say(f"{tag} refused: {exc}")
    except Exception as exc:  # a failed job is a result, not the end of the run
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        result.tables, result.probabilities = {}, {}
        say(f"{tag} failed: {record['error']}")
    else:
        if experiment.save_models:  # last, so that a model that cannot be saved keeps results
            save_model(classifier, Path(experiment.save_models) / spec.job_id, record, say)
    record.update(versions=json.dumps(job_versions()), ended_at=utc_now())
    result.tables = tagged_tables(spec, result.tables)
    return result


def data_and_conditions(spec, experiment, record):
    """``(data, fit images, fit labels, {condition: (images, labels)})``; the data's checksum
    and sizes go into ``record``."""
    data = load_dataset(spec.dataset, experiment.data_dir)
    X_fit, y_fit, conditions = condition_sets(data, experiment.shifts, experiment.data_dir,
                                              spec.holdout)
    record.update(dataset_checksum=data.checksum, n_train=len(X_fit), n_test=len(data.X_test))
    return data, X_fit, y_fit, conditions


def check_job_memory(classifier, X_fit, conditions, n_classes):
    """Refuse the job (:class:`NotEnoughMemory`) if it would not fit in memory."""
    sizes = [len(labels) for _, labels in conditions.values()]
    check_memory(classifier, len(X_fit), max(sizes), int(np.prod(X_fit.shape[1:])), n_classes,
                 sum(sizes))


def timed_fit(classifier, X_fit, y_fit):
    """Fit; the summary columns of the fit: ``fit_s`` (less logging), images seen, augment,
    and the framework and device a Keras adapter computed on."""
    _, seconds = timed(classifier.fit, X_fit, y_fit)
    # where a Keras adapter computed (its backend, as the framework, and device); others leave
    # both columns empty
    placed = {column: getattr(classifier, attribute) for column, attribute in
              (("framework", "backend_"), ("device", "device_")) if hasattr(classifier, attribute)}
    return {"fit_s": seconds - getattr(classifier, "log_seconds_", 0.0),
            "n_fit_images": getattr(classifier, "n_fit_images_", len(X_fit)),
            "augment": ",".join(parse_transforms(
                classifier.get_params().get("augment", "none"))) or "none", **placed}


def warm_up(classifier, images):
    """One untimed ``predict`` along the path the timed batch will take."""
    classifier.predict(images[:WARMUP_ROWS])


def timed_predictions(classifier, conditions):
    """``({condition: (labels, predicted, probabilities)}, {condition: seconds})``: on the clean
    test set ``predict`` is timed and ``predict_proba`` called after; elsewhere one pass
    (:func:`predict_and_proba`) is timed."""
    outputs, seconds = {}, {}
    for condition, (images, labels) in conditions.items():
        if condition == CLEAN:
            predicted, seconds[condition] = timed(classifier.predict, images)
            outputs[condition] = (labels, predicted, classifier.predict_proba(images))
        else:
            (predicted, probabilities), seconds[condition] = timed(
                predict_and_proba, classifier, images)
            outputs[condition] = (labels, predicted, probabilities)
    return outputs, seconds


def predict_and_proba(classifier, images):
    """``(labels, probabilities)``; one pass where ``predict`` is the arg-max of
    ``predict_proba`` (every built-in adapter: ``PREDICT_IS_ARGMAX``)."""
    probabilities = classifier.predict_proba(images)
    if getattr(classifier, "PREDICT_IS_ARGMAX", False):
        return classifier.classes_[np.argmax(probabilities, axis=1)], probabilities
    return classifier.predict(images), probabilities


def latency(classifier, images):
    """The latency columns: p50/p95/p99 of ``predict`` on one image, and how many calls."""
    latencies = single_image_latencies(classifier.predict, images)
    return {**latency_percentiles(latencies), "latency_calls": len(latencies)}


def scored_tables(outputs, labels, target_accuracy=None):
    """``(summaries, tables)`` of per-image ``outputs`` (``{condition: (true, predicted,
    probabilities)}``): each condition's metrics, and the ``per_class``, ``confusion``,
    ``predictions``, ``shifts`` and ``selective`` tables. A job and a vote of several jobs
    (:mod:`mnistbench.run.combine`) are scored by this one function."""
    summaries, tables = condition_tables(outputs, labels)
    tables["shifts"] = shift_table(summaries, {
        condition: len(truth) for condition, (truth, _, _) in outputs.items()})
    tables["selective"] = selective_table(outputs, target_accuracy)
    return summaries, tables


def learned_columns(classifier):
    """``resolved`` and ``chosen``: the parameters the fitted adapter used and chose."""
    return {name: json.dumps(to_builtin(getattr(classifier, f"{attribute}_", {})))
            for name, attribute in (("resolved", "resolved_params"),
                                    ("chosen", "chosen_params"))}


def adapter_tables(classifier):
    """The adapter's own tables, where it has them: ``sweep`` (k for KNN), ``history``
    (epochs)."""
    return {name: pd.DataFrame(getattr(classifier, f"{name}_"))
            for name in ("sweep", "history") if getattr(classifier, f"{name}_", None)}


def save_model(classifier, folder, record, say):
    """Save the fitted model in ``folder``; a model that cannot be saved is noted in
    ``record``'s ``error``, its results kept."""
    try:
        save_to(classifier, folder)
    except Exception as exc:
        record["error"] = f"model not saved: {type(exc).__name__}: {exc}"
        say(f"[{record['job_id']}] {record['error']}")


def failed_result(spec, status, error):
    """The result of a job that ran to no result: its row with ``status`` and ``error``."""
    return JobResult(spec, summary_row(spec, utc_now(), status=status, error=error,
                                       ended_at=utc_now()))


def job_versions():
    """Versions of the libraries a job actually used (TensorFlow and LightGBM only if they were
    imported)."""
    used = ["numpy", "scikit-learn"] + [name for name in ("tensorflow", "keras", "lightgbm",
                                                          "jax", "jaxlib", "torch")
                                        if name in sys.modules]
    return installed_versions(used)
