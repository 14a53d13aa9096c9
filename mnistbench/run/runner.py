"""The benchmark runner: a run is a list of jobs, each a plain function from its spec to a result.

A job fits its model once (timed), then evaluates the fitted model under named conditions (the
clean test set is ``test``), keeping every image's predicted label and class probabilities. Jobs
execute through joblib and return their results; only this process writes the run's folder
(:class:`~mnistbench.run.store.RunStore`), one job at a time, as each finishes. A job that
raises becomes a row with ``status="error"`` rather than ending the run, and a run that stopped
for any reason is finished by :func:`resume_benchmark`.
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from mnistbench.analysis.metrics import condition_tables, latency_percentiles
from mnistbench.datasets import load_dataset
from mnistbench.errors import DataError, ParameterError
from mnistbench.run.environment import environment, installed_versions, utc_now
from mnistbench.run.spec import (JobSpec, algorithm_list, build_classifier, decode_algos,
                                 decode_params, decode_value, encode_algos, encode_params,
                                 encode_value, expand_jobs, to_builtin)
from mnistbench.run.store import RunStore, default_run_dir
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


def run_benchmark(algos, dataset="mnist", data_dir=None, seed=0, params=None, out=None,
                  save_models=None, n_jobs=1, progress=None, repeats=1, grid=None):
    """Benchmark ``algos`` on ``dataset`` and write the run's folder.

    Parameters
    ----------
    algos : list, str or "all"
        Registered algorithm names (a string is a comma-separated list), any scikit-learn
        classifier as ``"package.module:Class"``, or estimator instances of your own, each
        with a name: ``[("my-svc", SVC()), "knn"]`` (each job fits a clone; its
        ``random_state``, if it has one, is the job's seed).
    dataset : {"mnist", "fashion", "digits"}
    data_dir : str or pathlib.Path, optional
        Searched first for the dataset's files; see :func:`mnistbench.load_dataset`.
    seed : int
        Passed as ``random_state`` to every adapter that has one.
    params : dict, optional
        ``{algorithm: {parameter: value}}``, checked before anything runs.
    out : str or pathlib.Path, optional
        The run's folder (see :mod:`mnistbench.run.store`); default
        ``results/runs/<UTC timestamp>_<dataset>``. A folder holding a run is refused: extend
        or finish it with :func:`resume_benchmark`.
    save_models : str or pathlib.Path, optional
        Folder in which to keep each trained model, in a sub-folder named by its job id.
    n_jobs : int
        Jobs run at once (joblib). Keep 1 when timings matter.
    progress : callable, optional
        Called with one line of text at each stage; adapters with a ``verbose`` parameter are
        also made verbose when standard error is a terminal.
    repeats : int
        Every job runs with seeds ``seed`` to ``seed + repeats - 1``.
    grid : dict, optional
        ``{algorithm: {parameter: [value, ...]}}``: one job per value (the cross product over
        an algorithm's parameters).

    Returns
    -------
    pandas.DataFrame
        ``summary.csv``: one row per job; ``.attrs["directory"]`` is the run's folder, for
        :func:`mnistbench.load_run`.
    """
    request = {"algos": algorithm_list(algos), "dataset": dataset, "data_dir": data_dir,
               "seed": seed, "repeats": repeats, "params": params or {}, "grid": grid or {},
               "save_models": save_models}
    jobs = expand_request(request)
    data = load_dataset(dataset, data_dir)  # fail on missing or corrupt data before any job
    store = RunStore.create(out or default_run_dir(dataset), {
        **environment(), "dataset": dataset, "dataset_checksum": data.checksum,
        "dataset_source": data.source,
        "request": encode_request(request)})
    return execute(store, jobs, request, n_jobs, progress)


def resume_benchmark(run_dir, n_jobs=1, progress=None, **changes):
    """Finish the run in ``run_dir``, or extend it: every job it lists that has not finished
    (or that failed) runs; finished ones are kept as they are.

    Parameters
    ----------
    run_dir : str or pathlib.Path
    **changes
        Options of :func:`run_benchmark` to extend the recorded request with: ``algos`` (added
        to the recorded ones), ``repeats`` (more seeds), ``seed``, ``params``, ``grid`` (jobs
        with other values are added), ``data_dir`` and ``save_models``. The dataset cannot
        change.

    Returns
    -------
    pandas.DataFrame
        The run's whole ``summary.csv``, as :func:`run_benchmark`.
    """
    store = RunStore.open(run_dir)
    try:
        request = merge_request(decode_request(store.info["request"]), changes)
        recorded = [JobSpec.from_dict(job) for job in store.info["jobs"]]
        new = expand_request(request)
        known = {spec.job_id for spec in recorded}
        jobs = recorded + [spec for spec in new if spec.job_id not in known]
        data = load_dataset(request["dataset"], request["data_dir"])
        if data.checksum != store.info["dataset_checksum"]:
            raise DataError(f"the {request['dataset']} data found now (checksum {data.checksum}, "
                            f"from {data.source}) is not the data this run used (checksum "
                            f"{store.info['dataset_checksum']})")
        store.info["request"] = encode_request(request)
    except BaseException:
        store.release()
        raise
    return execute(store, jobs, request, n_jobs, progress)


def expand_request(request):
    """The jobs a request names, checked."""
    return expand_jobs(request["algos"], request["dataset"], seed=request["seed"],
                       repeats=request["repeats"], params=request["params"],
                       grid=request["grid"])


def merge_request(request, changes):
    """``request`` extended by ``changes`` (see :func:`resume_benchmark`)."""
    unknown = sorted(set(changes) - set(request))
    if unknown:
        raise TypeError(f"resume_benchmark() got unexpected options: {', '.join(unknown)}")
    changes = {key: value for key, value in changes.items() if value is not None}
    if "dataset" in changes and changes["dataset"] != request["dataset"]:
        raise ParameterError(f"this run is on {request['dataset']}; a run holds one dataset, so "
                             f"start a new run for {changes['dataset']}")
    merged = {**request, **changes}
    if "algos" in changes:
        merged["algos"] = algorithm_list(request["algos"] + algorithm_list(changes["algos"]))
    for key in ("params", "grid"):
        merged[key] = {name: {**request[key].get(name, {}), **changes.get(key, {}).get(name, {})}
                       for name in {**request[key], **changes.get(key, {})}}
    return merged


def encode_request(request):
    """The request as JSON-ready values (parameters as Python literals), for ``run.json``."""
    return {**request, "algos": encode_algos(request["algos"]),
            "data_dir": str(request["data_dir"]) if request["data_dir"] else None,
            "save_models": str(request["save_models"]) if request["save_models"] else None,
            "params": {name: encode_params(values) for name, values in request["params"].items()},
            "grid": {name: {param: [encode_value(value) for value in values]
                            for param, values in axes.items()}
                     for name, axes in request["grid"].items()}}


def decode_request(encoded):
    """Inverse of :func:`encode_request`."""
    return {**encoded, "algos": decode_algos(encoded["algos"]),
            "params": {name: decode_params(values) for name, values in encoded["params"].items()},
            "grid": {name: {param: [decode_value(text) for text in values]
                            for param, values in axes.items()}
                     for name, axes in encoded["grid"].items()}}


def execute(store, jobs, request, n_jobs=1, progress=None):
    """Run every job of ``jobs`` that ``store`` does not hold finished, writing each result as it
    arrives; return the run's summary."""
    say = progress or (lambda line: None)
    finished = store.finished()
    todo = [spec for spec in jobs if finished.get(spec.job_id) != "ok"]
    if len(todo) < len(jobs):
        say(f"{len(jobs) - len(todo)} of {len(jobs)} jobs already finished in {store.directory}; "
            f"running the other {len(todo)}")
    status = "interrupted"
    try:
        store.begin(jobs, environment())
        results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            joblib.delayed(run_job)(spec, data_dir=request["data_dir"],
                                    save_models=request["save_models"], progress=progress)
            for spec in todo)
        for result in results:
            store.write_job(result)
        status = "complete"
    finally:
        summary = store.end(status)
    summary.attrs["directory"] = str(store.directory)
    return summary


def evaluation_conditions(data):
    """The named (images, labels) a fitted model is evaluated on; the clean test set is
    ``test``."""
    return {"test": (data.X_test, data.y_test)}


def run_job(spec, data_dir=None, save_models=None, progress=None):
    """Fit, evaluate and time one job; return its :class:`JobResult`.

    ``fit_s`` is the wall time of ``fit`` less what the adapter spent only on logging
    (``log_seconds_``); ``predict_s`` is one batch ``predict`` of the test set after a warm-up
    along the same path; the per-image outputs under each condition come from ``predict`` (the
    labels) and ``predict_proba`` (the probabilities; confidence is their maximum). Any exception
    raised by the adapter is caught and reported in the summary row (``status="error"``,
    ``error``), so one failing job never ends the run.
    """
    say = progress or (lambda line: None)
    tag = f"[{spec.job_id}]"
    record = {"job_id": spec.job_id, "algorithm": spec.algorithm,
              "params": json.dumps(encode_params(spec.params)), "seed": spec.seed,
              "dataset": spec.dataset, "transform": spec.transform, "started_at": utc_now()}
    result = JobResult(spec, record)
    try:
        data = load_dataset(spec.dataset, data_dir)
        record.update(dataset_checksum=data.checksum, n_train=len(data.X_train),
                      n_test=len(data.X_test))
        # progress bars only on a terminal: in a log file they are walls of carriage returns
        classifier = build_classifier(spec, verbose=progress is not None and sys.stderr.isatty())
        classifier.import_backend()  # a framework's import time is not training time
        say(f"{tag} fitting on {len(data.X_train):,} images (seed {spec.seed})")
        _, seconds = timed(classifier.fit, data.X_train, data.y_train)
        record["fit_s"] = seconds - getattr(classifier, "log_seconds_", 0.0)
        say(f"{tag} fitted in {record['fit_s']:.1f} s; evaluating")
        classifier.predict(data.X_test[:WARMUP_ROWS])
        outputs, predict_seconds = {}, {}
        for condition, (images, labels) in evaluation_conditions(data).items():
            predicted, predict_seconds[condition] = timed(classifier.predict, images)
            outputs[condition] = (labels, predicted, classifier.predict_proba(images))
        record["predict_s"] = predict_seconds["test"]
        record["images_per_s"] = len(data.X_test) / record["predict_s"]
        latencies = single_image_latencies(classifier.predict, data.X_test)
        record.update(latency_percentiles(latencies), latency_calls=len(latencies))
        summaries, result.tables = condition_tables(outputs, np.arange(len(data.class_names)))
        record.update(summaries["test"], status="ok",
                      resolved=json.dumps(to_builtin(getattr(classifier, "resolved_params_", {}))),
                      chosen=json.dumps(to_builtin(getattr(classifier, "chosen_params_", {}))))
        result.probabilities = {condition: np.asarray(probabilities, dtype=np.float32)
                                for condition, (_, _, probabilities) in outputs.items()}
        result.extra = {"classes": to_builtin(classifier.classes_), "conditions": {
            condition: {**summaries[condition], "predict_s": predict_seconds[condition]}
            for condition in outputs}}
        for name in ("sweep", "history"):
            rows = getattr(classifier, f"{name}_", None)
            if rows:
                result.tables[name] = pd.DataFrame(rows)
        say(f"{tag} accuracy {record['accuracy']:.2%}")
    except Exception as exc:  # a failed job is a result, not the end of the run
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        result.tables, result.probabilities = {}, {}
        say(f"{tag} failed: {record['error']}")
    else:
        if save_models:  # last, so that a model that cannot be saved still has its results
            try:
                classifier.save(Path(save_models) / spec.job_id)
            except Exception as exc:
                record["error"] = f"model not saved: {type(exc).__name__}: {exc}"
                say(f"{tag} {record['error']}")
    record.update(versions=json.dumps(job_versions()), ended_at=utc_now())
    result.tables = tagged_tables(spec, result.tables)
    return result


def tagged_tables(spec, tables):
    """A job's long tables with its ``job_id`` (and ``algorithm``, but in ``predictions``)
    as their first columns."""
    return {name: table.assign(job_id=spec.job_id, algorithm=spec.algorithm)[
        ["job_id", "algorithm", *table.columns]] if name != "predictions"
        else table.assign(job_id=spec.job_id)[["job_id", *table.columns]]
        for name, table in tables.items()}


def job_versions():
    """Versions of the libraries a job actually used (TensorFlow and LightGBM only if they were
    imported)."""
    used = ["numpy", "scikit-learn"] + [name for name in ("tensorflow", "keras", "lightgbm")
                                        if name in sys.modules]
    return installed_versions(used)
