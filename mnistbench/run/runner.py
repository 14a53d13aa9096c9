"""The benchmark runner: a run is a list of jobs, each a plain function from its spec to a result.

A job fits its model once (timed), then evaluates the fitted model under named conditions (the
clean test set is ``test``; shifted copies of it, see :mod:`mnistbench.run.conditions`), keeping
every image's predicted label and class probabilities. Jobs execute where an engine puts them
(this process, N processes on this machine, a Dask or Ray cluster: :mod:`mnistbench.run.parallel`)
and send back their results; only this process writes the run's folder
(:class:`~mnistbench.run.store.RunStore`), one job at a time, as each arrives. A job that raises
becomes a row with ``status="error"`` rather than ending the run, as does a job whose worker
died; a job over its time limit is a ``timeout`` row, one that would not fit in memory a
``refused`` row; and a run that stopped for any reason is finished by :func:`resume_benchmark`.
"""

import functools
import json
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mnistbench.analysis.metrics import condition_tables, latency_percentiles
from mnistbench.analysis.shifts import CLEAN, selective_table, shift_table
from mnistbench.classifiers import registry
from mnistbench.datasets import load_dataset
from mnistbench.datasets.transforms import parse_transforms
from mnistbench.errors import DataError, ParameterError
from mnistbench.run.conditions import condition_sets, parse_shifts
from mnistbench.run.environment import environment, installed_versions, utc_now
from mnistbench.run.memory import NotEnoughMemory, check_memory
from mnistbench.run.parallel import NoResult, limit_threads, open_engine, run_jobs
from mnistbench.run.spec import (JobSpec, algorithm_list, build_classifier, decode_algos,
                                 decode_params, decode_value, encode_algos, encode_params,
                                 encode_value, expand_jobs, to_builtin)
from mnistbench.run.store import RunStore, default_run_dir
from mnistbench.run.timeout import ChildDied, TimedOut, call_with_timeout
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
                  save_models=None, n_jobs=1, progress=None, repeats=1, grid=None, shifts=None,
                  target_accuracy=None, backend="local", address=None, timeout=None):
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
        Jobs at once on this machine (``backend="local"``), each in a worker process with its
        share of the cores (``cores // n_jobs`` threads). Keep 1 when timings matter: the run
        records that its jobs ran concurrently, and the table says so.
    progress : callable, optional
        Called with one line of text at each stage; adapters with a ``verbose`` parameter are
        also made verbose when standard error is a terminal.
    repeats : int
        Every job runs with seeds ``seed`` to ``seed + repeats - 1``.
    grid : dict, optional
        ``{algorithm: {parameter: [value, ...]}}``: one job per value (the cross product over
        an algorithm's parameters).
    shifts : str or list of str, optional
        Conditions besides the clean test set every fitted model is evaluated on, without
        refitting: transform names, ``"all"``, ``mixed-<transform>``, ``mnist-c`` or
        ``mnist-c/<corruption>`` (see :mod:`mnistbench.run.conditions`). Each gets a row per job
        in ``shifts.csv``.
    target_accuracy : float, optional
        Choose a selective-prediction threshold for this accuracy on the answered images:
        every job then fits without the last 10% of the training set, on which the threshold
        is chosen; ``selective.csv`` gives the coverage and accuracy it yields under each
        condition.
    backend : {"local", "dask", "ray"}
        Where jobs run: this machine, a Dask distributed cluster or a Ray cluster (see
        :mod:`mnistbench.run.parallel`). Workers load the dataset themselves, from the package
        or ``data_dir`` (which must then be visible to them), and send back their results.
    address : str, optional
        The Dask scheduler's address (required for ``dask``), or the Ray cluster's (without
        one, ``ray`` starts a local Ray runtime for the run).
    timeout : float, optional
        Seconds each job may run: each job then runs in a process of its own (the limit counts
        from its start-up's end), ended when over time, and recorded as a row with
        ``status="timeout"``.

    Returns
    -------
    pandas.DataFrame
        ``summary.csv``: one row per job; ``.attrs["directory"]`` is the run's folder, for
        :func:`mnistbench.load_run`.
    """
    request = {"algos": algorithm_list(algos), "dataset": dataset, "data_dir": data_dir,
               "seed": seed, "repeats": repeats, "params": params or {}, "grid": grid or {},
               "save_models": save_models,
               "shifts": parse_shifts(shifts, dataset, data_dir),
               "target_accuracy": check_target_accuracy(target_accuracy)}
    jobs = expand_request(request)
    data = load_dataset(dataset, data_dir)  # fail on missing or corrupt data before any job
    with open_engine(backend, n_jobs, address, timeout, progress) as engine:
        store = RunStore.create(out or default_run_dir(dataset), {
            **environment(), "dataset": dataset, "dataset_checksum": data.checksum,
            "dataset_source": data.source,
            "request": encode_request(request)})
        return execute(store, jobs, request, engine, progress)


def resume_benchmark(run_dir, n_jobs=1, progress=None, backend="local", address=None,
                     timeout=None, **changes):
    """Finish the run in ``run_dir``, or extend it: every job it lists that has not finished
    (or that failed) runs; finished ones are kept as they are.

    Parameters
    ----------
    run_dir : str or pathlib.Path
    n_jobs, progress, backend, address, timeout
        As for :func:`run_benchmark`, for this attempt: jobs that failed or ran over their time
        before run again, with the limit given now (none if none is).
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
        engine = open_engine(backend, n_jobs, address, timeout, progress)
    except BaseException:
        store.release()
        raise
    with engine:
        return execute(store, jobs, request, engine, progress)


def expand_request(request):
    """The jobs a request names, checked."""
    return expand_jobs(request["algos"], request["dataset"], seed=request["seed"],
                       repeats=request["repeats"], params=request["params"],
                       grid=request["grid"], holdout=request["target_accuracy"] is not None)


def merge_request(request, changes):
    """``request`` extended by ``changes`` (see :func:`resume_benchmark`)."""
    unknown = sorted(set(changes) - set(request))
    if unknown:
        raise TypeError(f"resume_benchmark() got unexpected options: {', '.join(unknown)}")
    changes = {key: value for key, value in changes.items() if value is not None}
    if "dataset" in changes and changes["dataset"] != request["dataset"]:
        raise ParameterError(f"this run is on {request['dataset']}; a run holds one dataset, so "
                             f"start a new run for {changes['dataset']}")
    if "shifts" in changes:
        changes["shifts"] = parse_shifts(changes["shifts"], request["dataset"],
                                         changes.get("data_dir", request["data_dir"]))
    for key, what in (("shifts", "conditions"), ("target_accuracy", "target accuracy")):
        if key in changes and changes[key] != request[key]:
            raise ParameterError(f"this run's finished jobs were evaluated with {what} "
                                 f"{request[key] or 'none'}; start a new run for "
                                 f"{changes[key] or 'none'}")
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
    # runs recorded before shifts and selective prediction existed had neither
    encoded = {"shifts": [], "target_accuracy": None, **encoded}
    return {**encoded, "algos": decode_algos(encoded["algos"]),
            "params": {name: decode_params(values) for name, values in encoded["params"].items()},
            "grid": {name: {param: [decode_value(text) for text in values]
                            for param, values in axes.items()}
                     for name, axes in encoded["grid"].items()}}


def execute(store, jobs, request, engine, progress=None):
    """Run every job of ``jobs`` that ``store`` does not hold finished on ``engine`` (see
    :func:`~mnistbench.run.parallel.open_engine`), writing each result as it arrives; return the
    run's summary."""
    say = progress or (lambda line: None)
    finished = store.finished()
    todo = [spec for spec in jobs if finished.get(spec.job_id) != "ok"]
    if len(todo) < len(jobs):
        say(f"{len(jobs) - len(todo)} of {len(jobs)} jobs already finished in {store.directory}; "
            f"running the other {len(todo)}")
    status = "interrupted"
    try:
        store.begin(jobs, environment(), engine.describe())
        options = {**job_options(request), "progress": progress}
        algorithms = {name: registry.ALGORITHMS[name] for name in {spec.algorithm for spec in todo}
                      if name in registry.ALGORITHMS}
        call, call_alone = (functools.partial(perform, options=options, placement=placement,
                                              algorithms=algorithms)
                            for placement in (engine.placement, engine.placement.alone()))
        for done, outcome in enumerate(run_jobs(engine, todo, call, call_alone, progress), 1):
            result = as_stored(outcome, store.info["dataset_checksum"], engine.placement)
            if result is not outcome:
                say(f"[{result.spec.job_id}] {result.record['error']}")
            store.write_job(result)
            if engine.placement.concurrent_jobs > 1:  # workers' own lines may be elsewhere
                say(f"{done} of {len(todo)} jobs done ({result.spec.job_id}: "
                    f"{result.record['status']} on {result.record.get('host')})")
        status = "complete"
    finally:
        summary = store.end(status)
    summary.attrs["directory"] = str(store.directory)
    return summary


def perform(spec, options, placement, algorithms):
    """One job, run where an engine placed it; its :class:`JobResult`, whose row says where and
    how it ran (``host``, ``backend``, ``concurrent_jobs``, ``threads``).

    The process that runs the job registers the run's ``algorithms`` (names registered in the
    driver then resolve in a worker too), limits its thread pools to ``placement.threads``
    (:func:`~mnistbench.run.parallel.limit_threads`) and calls :func:`run_job` with ``options``.
    With a ``placement.timeout``, that process is a child of this one, ended when over time
    (:mod:`mnistbench.run.timeout`), which makes a row with ``status="timeout"``.
    """
    if placement.timeout is None:
        result = run_here(spec, options, placement.threads, algorithms)
    else:
        result = run_with_timeout(spec, options, placement, algorithms)
    return placed(result, placement, socket.gethostname())


def run_with_timeout(spec, options, placement, algorithms):
    """:func:`run_here` in a child process ended when over ``placement.timeout``; without a
    result from it, a row with ``status="timeout"`` (or ``"error"`` if the child died)."""
    try:
        return call_with_timeout(run_here, (spec, options, placement.threads, algorithms),
                                 placement.timeout)
    except TimedOut as exc:
        result = failed_result(spec, "timeout", f"{exc}; its process was ended")
    except ChildDied as exc:
        result = failed_result(spec, "error", f"WorkerDied: {exc}")
    if options.get("progress"):
        options["progress"](f"[{spec.job_id}] {result.record['error']}")
    return result


def placed(result, placement, host):
    """``result`` with the columns that say where (``host``) and how it ran; one that does not
    apply (no thread limit, an unknown host) is left empty."""
    columns = {**placement.columns(), "host": host}
    result.record.update({name: value for name, value in columns.items() if value is not None})
    return result


def run_here(spec, options, threads, algorithms):
    """:func:`run_job` in this process, with the run's algorithms registered and its threads
    limited."""
    registry.ALGORITHMS.update(algorithms)
    limit_threads(threads)
    return run_job(spec, **options)


def as_stored(outcome, checksum, placement):
    """What the run stores for an outcome: a job that sent nothing back, or that computed on
    other data than the run's (a worker with other files), as a failed row."""
    if isinstance(outcome, NoResult):
        error = f"WorkerDied: {outcome.reason}" if outcome.worker_died else outcome.reason
        return placed(failed_result(outcome.spec, "error", error), placement, None)
    found = outcome.record.get("dataset_checksum")
    if found is not None and found != checksum:
        result = failed_result(outcome.spec, "error", (
            f"DataError: it ran on {outcome.spec.dataset} data with checksum {found} on "
            f"{outcome.record.get('host')}, not this run's ({checksum}); give every worker the "
            "same files"))
        return placed(result, placement, outcome.record.get("host"))
    return outcome


def job_record(spec):
    """The start of a job's summary row: what its spec says, and the time it started."""
    return {"job_id": spec.job_id, "algorithm": spec.algorithm,
            "params": json.dumps(encode_params(spec.params)), "seed": spec.seed,
            "dataset": spec.dataset, "transform": spec.transform, "started_at": utc_now()}


def failed_result(spec, status, error):
    """The result of a job that ran to no result: its row with ``status`` and ``error``."""
    return JobResult(spec, {**job_record(spec), "status": status, "error": error,
                            "ended_at": utc_now()})


def check_target_accuracy(value):
    """``value`` if it is None or an accuracy in (0, 1), else raise ParameterError."""
    if value is not None and not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ParameterError(f"the target accuracy must be a number between 0 and 1, both "
                             f"excluded, got {value!r}")
    return value


def job_options(request):
    """The keyword arguments of :func:`run_job` that come from the run's request."""
    return {"data_dir": request["data_dir"], "save_models": request["save_models"],
            "shifts": request["shifts"], "target_accuracy": request["target_accuracy"]}


def predict_and_proba(classifier, images):
    """``(labels, probabilities)``; one pass where ``predict`` is the arg-max of
    ``predict_proba`` (every built-in adapter: ``PREDICT_IS_ARGMAX``)."""
    probabilities = classifier.predict_proba(images)
    if getattr(classifier, "PREDICT_IS_ARGMAX", False):
        return classifier.classes_[np.argmax(probabilities, axis=1)], probabilities
    return classifier.predict(images), probabilities


def run_job(spec, data_dir=None, save_models=None, progress=None, shifts=(),
            target_accuracy=None):
    """Fit, evaluate and time one job; return its :class:`JobResult`.

    ``fit_s`` is the wall time of ``fit`` less what the adapter spent only on logging
    (``log_seconds_``); ``predict_s`` is one batch ``predict`` of the test set after a warm-up
    along the same path; the per-image outputs under each condition (``test``, the ``shifts``
    and, for a spec with a holdout, ``holdout``: see :mod:`mnistbench.run.conditions`) are the
    labels and the probabilities (confidence is their maximum): on ``test`` from ``predict`` and
    ``predict_proba``, elsewhere from :func:`predict_and_proba`. Its ``shifts`` and
    ``selective`` tables hold a row per condition, the latter with the threshold chosen on the
    holdout for ``target_accuracy`` if given. Any exception raised by the adapter is caught and
    reported in the summary row (``status="error"``, ``error``), so one failing job never ends
    the run.
    """
    say = progress or (lambda line: None)
    tag = f"[{spec.job_id}]"
    record = job_record(spec)
    result = JobResult(spec, record)
    try:
        data = load_dataset(spec.dataset, data_dir)
        X_fit, y_fit, conditions = condition_sets(data, shifts, data_dir, spec.holdout)
        record.update(dataset_checksum=data.checksum, n_train=len(X_fit),
                      n_test=len(data.X_test))
        # progress bars only on a terminal: in a log file they are walls of carriage returns
        classifier = build_classifier(spec, verbose=progress is not None and sys.stderr.isatty())
        classifier.import_backend()  # a framework's import time is not training time
        sizes = [len(labels) for _, labels in conditions.values()]
        check_memory(classifier, len(X_fit), max(sizes), int(np.prod(X_fit.shape[1:])),
                     len(data.class_names), sum(sizes))
        say(f"{tag} fitting on {len(X_fit):,} images (seed {spec.seed})")
        _, seconds = timed(classifier.fit, X_fit, y_fit)
        record["fit_s"] = seconds - getattr(classifier, "log_seconds_", 0.0)
        record["n_fit_images"] = getattr(classifier, "n_fit_images_", len(X_fit))
        record["augment"] = ",".join(parse_transforms(
            classifier.get_params().get("augment", "none"))) or "none"
        say(f"{tag} fitted in {record['fit_s']:.1f} s; evaluating"
            + (f" on {len(conditions)} conditions" if len(conditions) > 1 else ""))
        classifier.predict(data.X_test[:WARMUP_ROWS])
        outputs, predict_seconds = {}, {}
        for condition, (images, labels) in conditions.items():
            if condition == CLEAN:
                predicted, predict_seconds[condition] = timed(classifier.predict, images)
                outputs[condition] = (labels, predicted, classifier.predict_proba(images))
            else:
                (predicted, probabilities), predict_seconds[condition] = timed(
                    predict_and_proba, classifier, images)
                outputs[condition] = (labels, predicted, probabilities)
        record["predict_s"] = predict_seconds[CLEAN]
        record["images_per_s"] = len(data.X_test) / record["predict_s"]
        latencies = single_image_latencies(classifier.predict, data.X_test)
        record.update(latency_percentiles(latencies), latency_calls=len(latencies))
        summaries, result.tables = condition_tables(outputs, np.arange(len(data.class_names)))
        result.tables["shifts"] = shift_table(summaries, {
            condition: len(labels) for condition, (labels, _, _) in outputs.items()})
        result.tables["selective"] = selective_table(outputs, target_accuracy)
        record.update(summaries[CLEAN], status="ok",
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
    except NotEnoughMemory as exc:  # refused before it starts, not killed by the system later
        record.update(status="refused", error=f"NotEnoughMemory: {exc}")
        say(f"{tag} refused: {exc}")
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
