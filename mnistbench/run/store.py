"""A run's folder: one folder per finished job, each written atomically, and run-level tables
derived from them.

::

    RUN/
      run.json          the request, its jobs, provenance, status, process id and heartbeat
      .lock             held (flock) by the one process writing the run
      jobs/<job_id>/    one finished job: job.json (its spec and summary row), its long tables
                        as CSV, probabilities.npz (one N x classes array per condition)
      summary.csv  per_class.csv  confusion.csv  predictions.csv  sweep.csv  history.csv
      shifts.csv  selective.csv
                        every finished job's rows, rebuilt from jobs/ whenever one finishes

A job is written into ``jobs/.partial-<job_id>/`` and renamed into place, and every run-level
file is written to a temporary name and renamed, so a crash at any moment leaves each file
either as it was or complete. The job folders are the record; the run-level tables can always
be rebuilt from them (:func:`load_run` reads the job folders).
"""

import datetime
import fcntl
import io
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from mnistbench.datasets.readers import read_json
from mnistbench.errors import DataError, ParameterError
from mnistbench.run.environment import utc_now

FORMAT = "mnistbench-run"
VERSION = 1
RUN_FILE = "run.json"
LOCK_FILE = ".lock"
JOBS_DIR = "jobs"
JOB_FILE = "job.json"
PROBABILITIES_FILE = "probabilities.npz"
PARTIAL = ".partial-"
HEARTBEAT_S = 10
STALE_HEARTBEATS = 6  # a run from another host with no heartbeat for a minute is dead
SUMMARY_COLUMNS = [
    "job_id", "algorithm", "params", "resolved", "chosen", "seed", "dataset", "transform",
    "augment", "dataset_checksum", "n_train", "n_fit_images", "n_test", "status", "error",
    "accuracy", "precision_macro", "recall_macro", "f1_macro", "mean_confidence", "fit_s",
    "predict_s", "images_per_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "latency_calls", "host", "backend", "concurrent_jobs", "threads", "versions", "started_at",
    "ended_at",
]
LONG_TABLES = ("per_class", "confusion", "predictions", "sweep", "history", "shifts",
               "selective")
TABLES = ("summary",) + LONG_TABLES


def default_run_dir(dataset, root="results/runs"):
    """``results/runs/<UTC timestamp>_<dataset>``, made unique with a suffix if it exists."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(root) / f"{stamp}_{dataset}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{stamp}_{dataset}-{suffix}"
    return path


def write_atomic(path, data):
    """Write ``data`` (bytes or str) to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as file:
        file.write(data.encode() if isinstance(data, str) else data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


class RunStore:
    """The writer of one run's folder; one process at a time holds it (``.lock``).

    Use :meth:`create` for a new run or :meth:`open` to resume one, then :meth:`begin`,
    :meth:`write_job` for each finished job, and :meth:`end`.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.info = None
        self._lock_fd = None
        self._write_lock = threading.Lock()
        self._stop_heartbeat = threading.Event()
        self._heartbeat = None
        self._jobs = {}  # job_id -> its tables, read once

    @classmethod
    def create(cls, directory, info):
        """Start a new run in ``directory``; refuse a folder that already holds one."""
        store = cls(directory)
        if store.directory.exists() and not store.directory.is_dir():
            raise ParameterError(f"{store.directory} is a file, not a folder; choose another "
                                 "--out")
        if (store.directory / RUN_FILE).exists():
            raise ParameterError(f"{store.directory} already holds a run "
                                 f"({run_state(store.directory)}); finish or extend it with "
                                 f"--resume {store.directory}, or choose another --out")
        store.directory.mkdir(parents=True, exist_ok=True)
        store._acquire()
        store.info = {"format": FORMAT, "version": VERSION, **info, "jobs": [], "attempts": []}
        return store

    @classmethod
    def open(cls, directory):
        """Open the run in ``directory`` to resume or extend it."""
        store = cls(directory)
        info = read_info(store.directory)  # a readable run before taking its lock
        store._acquire()  # on this host, the lock alone tells whether the run is being written
        if info["status"] == "running" and info.get("host") != socket.gethostname() \
                and heartbeat_is_fresh(info):
            store.release()  # another host's process, which the lock cannot see
            raise ParameterError(f"{store.directory} is being written by another mnistbench "
                                 f"process ({run_state(store.directory, info)}); wait for it "
                                 "to end or stop it")
        store.info = info
        return store

    def _acquire(self):
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ParameterError(f"{self.directory} is being written by another mnistbench "
                                 f"process ({run_state(self.directory)}); wait for it to end "
                                 "or stop it") from None
        self._lock_fd = fd

    def begin(self, jobs, environment, placement=None):
        """Record the jobs this attempt will hold and how it runs them (``placement``: backend,
        jobs at once, threads, time limit), mark the run as running, start the heartbeat."""
        for leftover in self.jobs_dir().glob(f"{PARTIAL}*"):  # a job cut off mid-write
            shutil.rmtree(leftover)
        self.jobs_dir().mkdir(exist_ok=True)
        for attempt in self.info["attempts"]:
            attempt.setdefault("status", "died")  # ended without a word: killed, or a crash
        self.info["jobs"] = [spec.to_dict() for spec in jobs]
        self.info["attempts"].append({key: environment[key] for key in (
            "command", "host", "git_revision", "versions")} | (placement or {}) | {
                "pid": os.getpid(), "started_at": utc_now()})
        self.info.update(status="running", pid=os.getpid(), host=environment["host"],
                         heartbeat=utc_now(), ended_at=None)
        self.save_info()
        self._heartbeat = threading.Thread(target=self._beat, daemon=True)
        self._heartbeat.start()

    def _beat(self):
        while not self._stop_heartbeat.wait(HEARTBEAT_S):
            self.info["heartbeat"] = utc_now()
            self.save_info()

    def save_info(self):
        """Write ``run.json`` (atomically; the heartbeat thread writes it too)."""
        with self._write_lock:
            write_atomic(self.directory / RUN_FILE,
                         json.dumps(self.info, indent=2, default=str) + "\n")

    def jobs_dir(self):
        return self.directory / JOBS_DIR

    def finished(self):
        """``{job_id: status}`` of every job with a folder (``ok``, ``error``, ``timeout`` or
        ``refused``)."""
        return {job_id: read_job(self.directory, job_id)["summary"]["status"]
                for job_id in job_folders(self.directory)}

    def write_job(self, result):
        """Store one finished job (a :class:`~mnistbench.run.runner.JobResult`) atomically,
        replacing an earlier attempt at it, then rebuild the run-level tables."""
        job_id = result.record["job_id"]
        partial = self.jobs_dir() / f"{PARTIAL}{job_id}"
        partial.mkdir()
        for name, table in result.tables.items():
            write_atomic(partial / f"{name}.csv", table.to_csv(index=False))
        if result.probabilities:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **result.probabilities)
            write_atomic(partial / PROBABILITIES_FILE, buffer.getvalue())
        write_atomic(partial / JOB_FILE, json.dumps(
            {"spec": result.spec.to_dict(), "summary": result.record, **result.extra},
            indent=1, default=str))
        final = self.jobs_dir() / job_id
        if final.exists():  # an earlier, failed attempt: moved aside, then removed
            replaced = self.jobs_dir() / f"{PARTIAL}replaced-{job_id}"
            os.rename(final, replaced)
            os.rename(partial, final)
            shutil.rmtree(replaced)
        else:
            os.rename(partial, final)
        self._jobs.pop(job_id, None)
        self.rebuild_tables()

    def rebuild_tables(self):
        """Rewrite the run-level CSV files from the job folders; return the tables."""
        order = [job["job_id"] for job in self.info["jobs"]]
        present = job_folders(self.directory)
        for job_id in [job_id for job_id in present if job_id not in order]:
            order.append(job_id)  # a job of an earlier request that this one no longer names
        for job_id in order:
            if job_id in present and job_id not in self._jobs:
                self._jobs[job_id] = job_tables(self.directory, job_id)
        tables = join_tables([self._jobs[job_id] for job_id in order if job_id in present])
        for name, table in tables.items():
            if name == "summary" or not table.empty:
                write_atomic(self.directory / f"{name}.csv", table.to_csv(index=False))
        return tables

    def end(self, status):
        """Rebuild the tables, record ``status`` and the end time, release the run."""
        self._stop_heartbeat.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        tables = self.rebuild_tables()
        finished = self.finished()
        self.info.update(status=status, ended_at=utc_now(), heartbeat=utc_now(),
                         jobs_done=sum(state == "ok" for state in finished.values()),
                         jobs_failed=sum(state != "ok" for state in finished.values()))
        self.info["attempts"][-1].update(ended_at=self.info["ended_at"], status=status)
        self.save_info()
        self.release()
        return tables["summary"]

    def release(self):
        """Let another process write the run."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)


def read_info(directory):
    """The checked ``run.json`` of the run in ``directory``."""
    directory = Path(directory)
    path = directory / RUN_FILE
    if not directory.is_dir():
        raise DataError(f"{directory} is not a folder holding an mnistbench run")
    if not path.is_file():
        raise DataError(f"{directory} holds no mnistbench run (no {RUN_FILE})")
    info = read_json(path)
    if not isinstance(info, dict) or "jobs" not in info:
        raise DataError(f"{path} is not an mnistbench run record")
    if info.get("format") != FORMAT:
        raise DataError(f"{directory} was written by an mnistbench from before job folders "
                        "(0.1); its CSV files read as they are, but it cannot be loaded or "
                        "resumed")
    if info.get("version") != VERSION:
        raise DataError(f"{directory} is in run format version {info.get('version')}; this "
                        f"mnistbench reads version {VERSION}")
    return info


def run_state(directory, info=None):
    """A few words on the run's state: complete, interrupted, running (and by whom), or dead
    (its process stopped without saying so: a crash, or ``kill -9``)."""
    try:
        info = info or read_info(directory)
    except DataError as exc:
        return f"not readable: {exc}"
    finished = job_folders(directory)
    done = f"{len(finished)} of {len(info['jobs'])} jobs finished"
    if info["status"] != "running":
        return f"{info['status']}, {done}"
    if is_alive(directory, info):
        return f"running as process {info.get('pid')} on {info.get('host')}, last heartbeat " \
               f"at {info.get('heartbeat')}, {done}"
    return f"dead: its process {info.get('pid')} on {info.get('host')} stopped after the " \
           f"heartbeat at {info.get('heartbeat')}, {done}"


def is_alive(directory, info):
    """Whether the process recorded as writing the run still does: on this host its lock says
    so; a run written from another host (a shared folder) is alive while its heartbeat is
    fresh."""
    if info.get("host") == socket.gethostname():
        return is_locked(directory)
    return heartbeat_is_fresh(info)


def heartbeat_is_fresh(info):
    """Whether the run's last heartbeat is recent enough for its process to be alive."""
    try:
        beat = datetime.datetime.fromisoformat(info["heartbeat"])
    except (KeyError, TypeError, ValueError):
        return False
    age = datetime.datetime.now(datetime.timezone.utc) - beat
    return age.total_seconds() < STALE_HEARTBEATS * HEARTBEAT_S


def is_locked(directory):
    """Whether a process holds the run's ``.lock`` (is writing it now)."""
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def job_folders(directory):
    """Ids of the finished jobs: the folders in ``jobs/`` (partial writes excluded)."""
    jobs = Path(directory) / JOBS_DIR
    if not jobs.is_dir():
        return []
    return sorted(path.name for path in jobs.iterdir()
                  if path.is_dir() and not path.name.startswith("."))


def read_job(directory, job_id):
    """The ``job.json`` of a finished job."""
    return json.loads((Path(directory) / JOBS_DIR / job_id / JOB_FILE).read_text())


def job_tables(directory, job_id):
    """One job's tables: its summary row and the long tables it has."""
    folder = Path(directory) / JOBS_DIR / job_id
    tables = {"summary": pd.DataFrame([read_job(directory, job_id)["summary"]])}
    for name in LONG_TABLES:
        if (folder / f"{name}.csv").is_file():
            tables[name] = pd.read_csv(folder / f"{name}.csv")
    return tables


def join_tables(jobs):
    """Concatenate the tables of several jobs, table by table; the summary in its columns."""
    tables = {}
    for name in TABLES:
        parts = [job[name] for job in jobs if name in job]
        tables[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    tables["summary"] = tables["summary"].reindex(columns=SUMMARY_COLUMNS)
    return tables


class Run:
    """A run read back from its folder: :func:`load_run`.

    Attributes
    ----------
    directory : pathlib.Path
    info : dict
        ``run.json``: the request, its jobs, versions, machine, status.
    summary, per_class, confusion, predictions, sweep, history, shifts, selective : DataFrame
        The run's tables, built from its job folders (the same rows as its CSV files).
    job_ids : list of str
        The finished jobs (``ok`` or ``error``), in the order the run lists them.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.info = read_info(self.directory)
        present = set(job_folders(self.directory))
        listed = [job["job_id"] for job in self.info["jobs"]]
        self.job_ids = [job_id for job_id in listed if job_id in present] + sorted(
            present - set(listed))
        tables = join_tables([job_tables(self.directory, job_id) for job_id in self.job_ids])
        for name, table in tables.items():
            setattr(self, name, table)

    @property
    def state(self):
        """``complete``, ``interrupted``, ``running`` (with its process and heartbeat) or
        ``dead``, with how many jobs are finished: read now, not when the run was loaded."""
        return run_state(self.directory)

    def probabilities(self, job_id, condition="test"):
        """Class probabilities of every image of ``condition``: an N x classes array, columns
        in the order of the job's classes (``classes`` in its ``job.json``)."""
        if job_id not in self.job_ids:
            raise ParameterError(f"no finished job '{job_id}' in {self.directory}; its jobs are: "
                                 f"{', '.join(self.job_ids) or 'none'}")
        job = read_job(self.directory, job_id)
        if job["summary"]["status"] != "ok":
            raise ParameterError(f"job {job_id} failed ({job['summary']['error']}) and has no "
                                 "probabilities")
        with np.load(self.directory / JOBS_DIR / job_id / PROBABILITIES_FILE) as arrays:
            if condition not in arrays:
                raise ParameterError(f"job {job_id} has no condition '{condition}'; it has: "
                                     f"{', '.join(arrays.files)}")
            return arrays[condition]

    def __repr__(self):
        return f"<mnistbench run {self.directory}: {self.state}>"


def load_run(path):
    """Read the run in the folder ``path``.

    Returns
    -------
    Run
        Its tables as DataFrames, ``info`` from ``run.json``, and ``probabilities(job_id,
        condition="test")``.

    Raises
    ------
    DataError
        If ``path`` holds no run written by this version of mnistbench.
    """
    return Run(path)
