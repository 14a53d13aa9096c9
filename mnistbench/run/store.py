"""A run's folder: one folder per finished job, each written atomically, and run-level tables
derived from them.

::

    RUN/
      run.json          the experiment (as "request"), how many jobs it holds, provenance,
                        status, process id and heartbeat
      .lock             held (flock) by the one process writing the run
      jobs/<job_id>/    one finished job: job.json (its spec, position and summary row), its
                        long tables as CSV, its per-image answers as predictions.parquet
                        (mnistbench.run.perimage), probabilities.npz (one N x classes array
                        per condition), and checksums.json (the SHA-256 of each), written last
      summary.csv  per_class.csv  confusion.csv  sweep.csv  history.csv  shifts.csv
      selective.csv
                        every finished job's rows, rebuilt from jobs/ at most every
                        REBUILD_S seconds while the run goes on, and at its end (the
                        per-image answers only in the job folders: load_run joins them)
      configurations.csv  pairs.csv  pairs_by_seed.csv
                        derived from those (mnistbench.analysis.tables) at the run's end

A job is written into ``jobs/.partial-<job_id>/`` and renamed into place, and every run-level
file is written to a temporary name and renamed, so a crash at any moment leaves each file
either as it was or complete; a job folder damaged later (a disk, a hand) no longer matches its
checksums (:mod:`mnistbench.run.integrity`) and runs again on resume. The job folders are the
record; the run-level tables can always be rebuilt from them (:func:`~mnistbench.run.loading.
load_run` reads the job folders).
"""

import datetime
import fcntl
import io
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np

from mnistbench.analysis.tables import derived_tables
from mnistbench.errors import ParameterError
from mnistbench.run.environment import utc_now
from mnistbench.run.integrity import CHECKSUMS_FILE, checksums_text
from mnistbench.run.perimage import PREDICTIONS_FILE, predictions_bytes
from mnistbench.run.loading import (FORMAT, HEARTBEAT_S, JOB_FILE, JOBS_DIR, LOCK_FILE,
                                    PROBABILITIES_FILE, RUN_FILE, VERSION, heartbeat_is_fresh,
                                    job_tables, join_tables, read_info, run_state, whole_jobs)

PARTIAL = ".partial-"
# run-level tables while a run goes on: at most every REBUILD_S seconds, and at most a tenth of
# the time (a rebuild costs more as jobs accumulate), so one more job costs what the first did
REBUILD_S = 5
REBUILD_SHARE = 0.1


def default_run_dir(dataset, root="results/runs"):
    """``results/runs/<UTC timestamp>_<dataset>``, made unique with a suffix if it exists."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(root) / f"{stamp}_{dataset}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{stamp}_{dataset}-{suffix}"
    return path


def previous_position(folder):
    """The position recorded in an earlier attempt's ``job.json`` in ``folder``, if any."""
    try:
        return json.loads((folder / JOB_FILE).read_text()).get("position")
    except (OSError, ValueError):
        return None


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
        self._jobs = {}  # job_id -> (its job.json, its tables), read and checked once
        self._rebuilt_at, self._rebuild_s = 0.0, 0.0

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
        store.info = {"format": FORMAT, "version": VERSION, **info, "attempts": []}
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

    def begin(self, job_count, environment, placement=None):
        """Record how many jobs this attempt's request holds and how it runs them
        (``placement``: backend, jobs at once, threads, time limit), mark the run as running,
        start the heartbeat."""
        for leftover in self.jobs_dir().glob(f"{PARTIAL}*"):  # a job cut off mid-write
            shutil.rmtree(leftover)
        self.jobs_dir().mkdir(exist_ok=True)
        for attempt in self.info["attempts"]:
            attempt.setdefault("status", "died")  # ended without a word: killed, or a crash
        self.info["job_count"] = job_count
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

    def finished(self, say=None):
        """``{job_id: status}`` of every job with a whole folder (``ok``, ``error``,
        ``timeout`` or ``refused``); a damaged one is named through ``say`` and left out, so
        it runs again."""
        records = whole_jobs(self.directory, self.info, say and (
            lambda line: say(f"{line}; it runs again")))
        return {job_id: record["summary"]["status"] for job_id, record in records.items()}

    def write_job(self, result, position=None):
        """Store one finished job (a :class:`~mnistbench.run.job.JobResult`; ``position``:
        its place in the run's request) atomically, replacing an earlier attempt at it, then
        rebuild the run-level tables if they are :data:`REBUILD_S` old."""
        job_id = result.record["job_id"]
        final = self.jobs_dir() / job_id
        if position is not None:  # [attempt, place in its request]; run again, it keeps its own
            position = previous_position(final) or [len(self.info["attempts"]) - 1, position]
        partial = self.jobs_dir() / f"{PARTIAL}{job_id}"
        partial.mkdir()
        for name, table in result.tables.items():
            if name == "predictions":
                write_atomic(partial / PREDICTIONS_FILE,
                             predictions_bytes(table, result.probabilities))
            else:
                write_atomic(partial / f"{name}.csv", table.to_csv(index=False))
        if result.probabilities:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **result.probabilities)
            write_atomic(partial / PROBABILITIES_FILE, buffer.getvalue())
        write_atomic(partial / JOB_FILE, json.dumps(
            {"spec": result.spec.to_dict(), "position": position, "summary": result.record,
             **result.extra}, indent=1, default=str))
        write_atomic(partial / CHECKSUMS_FILE, checksums_text(partial))  # last: seals the job
        if final.exists():  # an earlier, failed attempt: moved aside, then removed
            replaced = self.jobs_dir() / f"{PARTIAL}replaced-{job_id}"
            os.rename(final, replaced)
            os.rename(partial, final)
            shutil.rmtree(replaced)
        else:
            os.rename(partial, final)
        self._jobs.pop(job_id, None)
        if time.monotonic() - self._rebuilt_at >= max(REBUILD_S,
                                                        self._rebuild_s / REBUILD_SHARE):
            self.rebuild_tables()

    def rebuild_tables(self, derived=False):
        """Rewrite the run-level CSV files from the (whole) job folders, and with ``derived``
        the analysis tables (:func:`~mnistbench.analysis.tables.derived_tables`); return the
        job tables."""
        started = time.monotonic()
        records = whole_jobs(self.directory, self.info, lambda line: None, known={
            job_id: record for job_id, (record, _) in self._jobs.items()})
        for job_id, record in records.items():
            if job_id not in self._jobs:
                self._jobs[job_id] = record, job_tables(self.directory, job_id, record)
        tables = join_tables([self._jobs[job_id][1] for job_id in records])
        if derived:
            tables.update(derived_tables(tables["summary"], tables["predictions"]))
        for name, table in tables.items():
            if name != "predictions" and (name == "summary" or not table.empty):
                write_atomic(self.directory / f"{name}.csv", table.to_csv(index=False))
        self._rebuilt_at = time.monotonic()
        self._rebuild_s = self._rebuilt_at - started
        return tables

    def end(self, status):
        """Rebuild the tables, record ``status`` and the end time, release the run."""
        self._stop_heartbeat.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        tables = self.rebuild_tables(derived=True)
        finished = {job_id: state for job_id, state in zip(
            tables["summary"]["job_id"], tables["summary"]["status"])}
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
