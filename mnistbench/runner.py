"""The benchmark runner: a run is a list of jobs, each a plain function from its spec to tables.

Jobs execute through joblib (in process by default, so timings are not disturbed by a
neighbour); each finished job is appended to the run's files at once, and a job that raises
becomes a row with ``status="error"`` rather than ending the run.
"""

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from mnistbench.datasets import load_dataset
from mnistbench.errors import ParameterError
from mnistbench.metrics import classification_metrics, latency_percentiles
from mnistbench.registry import algorithm_names, check_algorithm, get_classifier
from mnistbench.results import (SUMMARY_COLUMNS, RunFiles, default_run_dir, environment,
                                installed_versions, utc_now)
from mnistbench.timing import single_image_latencies, timed


@dataclass(frozen=True)
class Job:
    """One benchmark job: an algorithm with its parameters, on a dataset, with a seed."""

    job: int
    algorithm: str
    dataset: str
    seed: int = 0
    params: dict = field(default_factory=dict)
    data_dir: str = None


def run_benchmark(algos, dataset="mnist", data_dir=None, seed=0, params=None, out=None,
                  save_models=None, n_jobs=1, progress=None):
    """Benchmark ``algos`` on ``dataset`` and write the run's files.

    Parameters
    ----------
    algos : list of str or "all"
        Registered algorithm names.
    dataset : {"mnist", "fashion", "digits"}
    data_dir : str, optional
        Searched first for the dataset's files; see :func:`mnistbench.load_dataset`.
    seed : int
        Passed as ``random_state`` to every adapter that has one.
    params : dict, optional
        ``{algorithm: {parameter: value}}``, checked before anything runs.
    out : str or pathlib.Path, optional
        Folder for ``summary.csv``, ``per_class.csv``, ``confusion.csv``, ``predictions.csv``,
        ``sweep.csv``, ``history.csv`` and ``run.json``; default
        ``results/runs/<UTC timestamp>_<dataset>``.
    save_models : str or pathlib.Path, optional
        Folder in which to keep each trained model (``<job>-<algorithm>``).
    n_jobs : int
        Jobs run at once (joblib). Keep 1 when timings matter.
    progress : callable, optional
        Called with one line of text at each stage; adapters with a ``verbose`` parameter are
        also made verbose when standard error is a terminal.

    Returns
    -------
    pandas.DataFrame
        ``summary.csv``: one row per job.
    """
    jobs = make_jobs(algos, dataset, data_dir=data_dir, seed=seed, params=params)
    data = load_dataset(dataset, data_dir)  # fail on missing or corrupt data before any job
    files = RunFiles(out or default_run_dir(dataset))
    files.start({**environment(), "dataset": dataset, "dataset_checksum": data.checksum,
                 "dataset_source": data.source, "seed": seed,
                 "jobs": [asdict(job) for job in jobs]})
    summaries = []
    status = "interrupted"
    try:
        results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            joblib.delayed(run_job)(job, save_models=save_models, progress=progress)
            for job in jobs)
        for tables in results:
            files.add(tables)
            summaries.append(tables["summary"])
        status = "complete"
    finally:
        files.finish(status, jobs_done=len(summaries))
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    summary.attrs["directory"] = str(files.directory)
    return summary.sort_values("job", ignore_index=True) if summaries else summary


def make_jobs(algos, dataset, data_dir=None, seed=0, params=None):
    """Expand ``algos`` ("all" or a list of names) into checked :class:`Job` specs.

    Every algorithm name, parameter name and value is checked here, so a typo fails in a
    second instead of after an hour of training.
    """
    algos = algorithm_names() if algos == "all" or algos == ["all"] else list(algos)
    params = params or {}
    for name in list(algos) + list(params):
        check_algorithm(name)
    for name in params:
        if name not in algos:
            raise ParameterError(f"parameters were given for '{name}', which is not among the "
                                 f"algorithms to run ({', '.join(algos)})")
    jobs = []
    for number, name in enumerate(algos, start=1):
        job = Job(number, name, dataset, seed=seed, params=dict(params.get(name, {})),
                  data_dir=data_dir)
        build_classifier(job)
        jobs.append(job)
    return jobs


def build_classifier(job, verbose=False):
    """The job's adapter with its parameters, seeded, and verbose if asked and able."""
    classifier = get_classifier(job.algorithm, **job.params)
    defaults = classifier.get_params()
    extra = {}
    if "random_state" in defaults and "random_state" not in job.params:
        extra["random_state"] = job.seed
    if verbose and "verbose" in defaults and "verbose" not in job.params:
        extra["verbose"] = 1
    return classifier.set_params(**extra)


def run_job(job, save_models=None, progress=None):
    """Fit, predict and time one job; return its tables (``summary`` and the long ones).

    Any exception raised by the adapter is caught and reported in the summary row
    (``status="error"``, ``error``), so one failing job never ends the run.
    """
    say = progress or (lambda line: None)
    record = {"job": job.job, "algorithm": job.algorithm, "params": json.dumps(job.params),
              "seed": job.seed, "dataset": job.dataset, "started_at": utc_now()}
    tables = {}
    try:
        data = load_dataset(job.dataset, job.data_dir)
        record.update(dataset_checksum=data.checksum, n_train=len(data.X_train),
                      n_test=len(data.X_test))
        # progress bars only on a terminal: in a log file they are walls of carriage returns
        classifier = build_classifier(job, verbose=progress is not None and sys.stderr.isatty())
        classifier.import_backend()  # a framework's import time is not training time
        say(f"[{job.job}] {job.algorithm}: fitting on {len(data.X_train):,} images")
        _, record["fit_s"] = timed(classifier.fit, data.X_train, data.y_train)
        say(f"[{job.job}] {job.algorithm}: fitted in {record['fit_s']:.1f} s; predicting "
            f"{len(data.X_test):,} test images")
        classifier.predict(data.X_test[:1])  # one-time set-up (graph tracing) is not predicting
        y_pred, record["predict_s"] = timed(classifier.predict, data.X_test)
        record["images_per_s"] = len(data.X_test) / record["predict_s"]
        latencies = single_image_latencies(classifier.predict, data.X_test)
        record.update(latency_percentiles(latencies), latency_calls=len(latencies))
        labels = np.arange(len(data.class_names))
        summary, tables["per_class"], tables["confusion"] = classification_metrics(
            data.y_test, y_pred, labels)
        record.update(summary, status="ok", chosen=json.dumps(to_builtin(
            getattr(classifier, "chosen_params_", {}))))
        tables["predictions"] = pd.DataFrame({"index": np.arange(len(y_pred)),
                                              "true": data.y_test, "predicted": y_pred})
        for name in ("sweep", "history"):
            rows = getattr(classifier, f"{name}_", None)
            if rows:
                tables[name] = pd.DataFrame(rows)
        say(f"[{job.job}] {job.algorithm}: accuracy {summary['accuracy']:.2%}")
    except Exception as exc:  # a failed job is a result, not the end of the run
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        say(f"[{job.job}] {job.algorithm}: failed: {record['error']}")
    else:
        if save_models:  # last, so that a model that cannot be saved still has its results
            try:
                classifier.save(Path(save_models) / f"{job.job:02d}-{job.algorithm}")
            except Exception as exc:
                record["error"] = f"model not saved: {type(exc).__name__}: {exc}"
                say(f"[{job.job}] {job.algorithm}: {record['error']}")
    record.update(versions=json.dumps(job_versions()), ended_at=utc_now())
    tables = {name: table.assign(job=job.job, algorithm=job.algorithm)[
        ["job", "algorithm", *table.columns]] for name, table in tables.items()}
    tables["summary"] = pd.DataFrame([record]).reindex(columns=SUMMARY_COLUMNS)
    return tables


def job_versions():
    """Versions of the libraries a job actually used (TensorFlow only if it was imported)."""
    used = ["numpy", "scikit-learn"] + [name for name in ("tensorflow", "keras")
                                        if name in sys.modules]
    return installed_versions(used)


def to_builtin(value):
    """``value`` with numpy scalars and arrays turned into JSON-ready Python values."""
    if isinstance(value, dict):
        return {str(key): to_builtin(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
