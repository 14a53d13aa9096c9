"""The benchmark runner: orchestration only. An :class:`~mnistbench.run.experiment.Experiment`
expands into jobs, an engine runs them where it puts them (this process, N processes on this
machine, a Dask or Ray cluster: :mod:`mnistbench.run.parallel`), each job is
:func:`~mnistbench.run.job.run_job`, and only this process writes the run's folder
(:class:`~mnistbench.run.store.RunStore`), one job at a time, as each arrives.

A job that raises becomes a row with ``status="error"`` rather than ending the run, as does a job
whose worker died; a job over its time limit is a ``timeout`` row, one that would not fit in
memory a ``refused`` row; and a run that stopped for any reason is finished by
:func:`resume_benchmark`.
"""

import functools
import socket
from dataclasses import replace
from pathlib import Path

from mnistbench.classifiers import backends, registry
from mnistbench.datasets import load_dataset
from mnistbench.errors import DataError
from mnistbench.run.environment import environment
from mnistbench.run.experiment import Experiment
from mnistbench.run.job import failed_result, run_job
from mnistbench.run.engines import open_engine
from mnistbench.run.parallel import NoResult, limit_threads, run_jobs
from mnistbench.run.preflight import check_against_data, check_size
from mnistbench.run.spec import build_classifier
from mnistbench.run.folders import check_new_run_folder
from mnistbench.run.store import RunStore, default_run_dir
from mnistbench.run.timeout import ChildDied, TimedOut, call_with_timeout


def run_benchmark(algos, dataset="mnist", data_dir=None, seed=0, params=None, out=None,
                  save_models=None, n_jobs=1, progress=None, repeats=1, grid=None, shifts=None,
                  target_accuracy=None, backend="local", address=None, timeout=None, yes=False):
    """Benchmark ``algos`` on ``dataset`` and write the run's folder: :func:`run_experiment` of
    the :class:`~mnistbench.run.experiment.Experiment` these arguments declare.

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
    yes : bool
        Run a request of more than 10,000 jobs (refused without it).

    Returns
    -------
    pandas.DataFrame
        ``summary.csv``: one row per job; ``.attrs["directory"]`` is the run's folder, for
        :func:`mnistbench.load_run`.

    Raises
    ------
    ParameterError
        Before anything runs, for a bad name or value (a ``k`` above the training images
        included), an ``out`` folder that is not new or empty, or a ``save_models`` folder that
        cannot hold models.
    DataError
        Before anything runs, for data that cannot be read.
    RunStopped
        When a write fails once the run has begun (a full disk, its folder removed): the
        finished jobs are kept, and :func:`resume_benchmark` finishes the run.
    """
    experiment = Experiment.from_options(
        algos, params, grid, dataset=dataset, data_dir=data_dir, seed=seed, repeats=repeats,
        shifts=shifts, target_accuracy=target_accuracy, save_models=save_models, n_jobs=n_jobs,
        backend=backend, address=address, timeout=timeout)
    return run_experiment(experiment, out, progress, yes)


def run_experiment(experiment, out=None, progress=None, yes=False):
    """Run ``experiment`` (an :class:`~mnistbench.run.experiment.Experiment`, or the path of an
    experiment file) into the folder ``out``; return the run's summary, as
    :func:`run_benchmark`."""
    if not isinstance(experiment, Experiment):
        experiment = Experiment.from_file(experiment)
    experiment = experiment.checked()
    if experiment.save_models:  # absolute, so a run's models are found from any folder
        experiment = replace(experiment, save_models=str(Path(experiment.save_models).resolve()))
    check_size(experiment, yes, progress)
    out = out or default_run_dir(experiment.dataset)
    check_new_run_folder(out)
    data = load_dataset(experiment.dataset, experiment.data_dir)  # fail on bad data first
    check_against_data(experiment, data)
    with open_engine(experiment, progress) as engine:
        store = RunStore.create(out, {
            **environment(), "dataset": experiment.dataset, "dataset_checksum": data.checksum,
            "dataset_source": data.source, "request": experiment.to_json()})
        return execute(store, experiment, engine, progress)


def resume_benchmark(run_dir, n_jobs=1, progress=None, backend="local", address=None,
                     timeout=None, yes=False, **changes):
    """Finish the run in ``run_dir``, or extend it: every job of its experiment that has not
    finished (or that failed, or whose files are damaged) runs; finished ones are kept.

    Parameters
    ----------
    run_dir : str or pathlib.Path
    n_jobs, progress, backend, address, timeout, yes
        As for :func:`run_benchmark`, for this attempt: jobs that failed or ran over their time
        before run again, with the limit given now (none if none is).
    **changes
        Options of :func:`run_benchmark` to extend the recorded experiment with (see
        :meth:`~mnistbench.run.experiment.Experiment.extended_by`): ``algos`` (added to the
        recorded ones), ``repeats`` (more seeds), ``seed``, ``params``, ``grid`` (jobs with
        other values are added), ``data_dir`` and ``save_models``. The dataset cannot change.

    Returns
    -------
    pandas.DataFrame
        The run's whole ``summary.csv``, as :func:`run_benchmark`.
    """
    store = RunStore.open(run_dir)
    try:
        recorded = Experiment.from_json(store.info["request"])
        experiment = replace(recorded.extended_by(changes), n_jobs=n_jobs, backend=backend,
                             address=address, timeout=timeout).checked()
        check_size(experiment, yes, progress)
        data = load_dataset(experiment.dataset, experiment.data_dir)
        if data.checksum != store.info["dataset_checksum"]:
            raise DataError(f"the {experiment.dataset} data found now (checksum "
                            f"{data.checksum}, from {data.source}) is not the data this run "
                            f"used (checksum {store.info['dataset_checksum']})")
        check_against_data(experiment, data)
        store.info["request"] = experiment.to_json()
        engine = open_engine(experiment, progress)
    except BaseException:
        store.release()
        raise
    with engine:
        return execute(store, experiment, engine, progress)


def execute(store, experiment, engine, progress=None):
    """Run every job of ``experiment`` that ``store`` does not hold finished on ``engine``,
    writing each result as it arrives; return the run's summary."""
    say = progress or (lambda line: None)
    finished = store.finished(say)
    total = experiment.job_count()
    positions = {}  # of the jobs handed to the engine, for the run's order

    def todo():
        for position, spec in enumerate(experiment.jobs()):
            if finished.get(spec.job_id) != "ok":
                positions[spec.job_id] = position
                yield spec

    done_before = sum(state == "ok" for state in finished.values())
    if done_before:
        say(f"{done_before} of {total} jobs already finished in {store.directory}; running the "
            f"other {total - done_before}")
    try:
        store.begin(total, environment(), engine.describe())
        algorithms = {name: registry.ALGORITHMS[name] for name in
                      {algorithm.name for algorithm in experiment.algorithms}
                      if name in registry.ALGORITHMS}
        call, call_alone = (functools.partial(run_placed, experiment=experiment,
                                              placement=placement, algorithms=algorithms,
                                              progress=progress)
                            for placement in (engine.placement, engine.placement.alone()))
        for done, outcome in enumerate(run_jobs(engine, todo(), call, call_alone, progress), 1):
            result = as_stored(outcome, store.info["dataset_checksum"], engine.placement)
            if result is not outcome:
                say(f"[{result.spec.job_id}] {result.record['error']}")
            store.write_job(result, positions.pop(result.spec.job_id, None))
            if engine.placement.concurrent_jobs > 1:  # workers' own lines may be elsewhere
                say(f"{done} jobs done ({result.spec.job_id}: {result.record['status']} on "
                    f"{result.record.get('host')})")
        summary = store.end("complete")
    except BaseException as exc:
        if is_storage_fault(exc):  # a full disk, a folder removed: the finished jobs are kept
            raise store.stopped_by(exc) from None
        try:
            store.end("interrupted")
        except OSError as fault:
            raise store.stopped_by(fault) from None
        raise
    summary.attrs["directory"] = str(store.directory)
    return summary


def is_storage_fault(exc):
    """Whether ``exc`` is a fault of the files the run writes (each such error names its file),
    not of, say, a cluster's connection."""
    return isinstance(exc, OSError) and exc.filename is not None


def run_placed(spec, experiment, placement, algorithms, progress=None):
    """:func:`~mnistbench.run.job.run_job`, where an engine placed it; its result, whose row
    says where and how it ran (``host``, ``backend``, ``concurrent_jobs``, ``threads``).

    The process that runs the job registers the run's ``algorithms`` (names registered in the
    driver then resolve in a worker too) and limits its thread pools to ``placement.threads``
    (:func:`~mnistbench.run.parallel.limit_threads`). With a ``placement.timeout``, that process
    is a child of this one, ended when over time (:mod:`mnistbench.run.timeout`), which makes a
    row with ``status="timeout"``. A job whose adapter needs a process of its own (a Keras
    backend other than this process's: :func:`~mnistbench.classifiers.backends.job_environment`)
    runs in such a child too, started with the environment it asks for.
    """
    args = (spec, experiment, placement.threads, algorithms, progress)
    environment = job_environment(spec, algorithms)
    if placement.timeout is None and not environment:
        result = run_in_this_process(*args)
    else:
        try:
            result = call_with_timeout(run_in_this_process, args, placement.timeout,
                                       environment)
        except TimedOut as exc:
            result = failed_result(spec, "timeout", f"{exc}; its process was ended")
        except ChildDied as exc:
            result = failed_result(spec, "error", f"WorkerDied: {exc}")
        if result.record["status"] != "ok" and progress:
            progress(f"[{spec.job_id}] {result.record['error']}")
    return placed(result, placement, socket.gethostname())


def job_environment(spec, algorithms):
    """The environment variables the job must run under in a child process, or ``{}`` when
    this process can run it. An adapter that cannot even be built says so when the job runs."""
    registry.ALGORITHMS.update(algorithms)
    try:
        classifier = build_classifier(spec)
    except Exception:  # the job itself reports it, as a row with status="error"
        return {}
    return backends.job_environment(classifier)


def run_in_this_process(spec, experiment, threads, algorithms, progress):
    """:func:`~mnistbench.run.job.run_job` with the run's algorithms registered and this
    process's threads limited."""
    registry.ALGORITHMS.update(algorithms)
    limit_threads(threads)
    return run_job(spec, experiment, progress)


def placed(result, placement, host):
    """``result`` with the columns that say where (``host``) and how it ran; one that does not
    apply (no thread limit, an unknown host) is left empty."""
    columns = {**placement.columns(), "host": host}
    result.record.update({name: value for name, value in columns.items() if value is not None})
    return result


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
