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

A run starts only in a new or empty folder (:mod:`mnistbench.run.folders`). A job is
written into ``jobs/.partial-<job_id>/`` and renamed into place, and every run-level file is
written to a temporary name and renamed, so a crash at any moment leaves each file either as it
was or complete; a write that fails (a full disk, a folder removed) removes its temporary file
and stops the run with :class:`~mnistbench.errors.RunStopped`, every finished job kept, for
``--resume`` to finish once the cause is gone. A job folder damaged later (a disk, a hand) no
longer matches its checksums (:mod:`mnistbench.run.integrity`) and runs again on resume. The
job folders are the record; the run-level tables can always be rebuilt from them
(:func:`~mnistbench.run.loading.load_run` reads the job folders).
"""

import contextlib
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
from mnistbench.errors import MnistbenchError, ParameterError, RunStopped, filesystem_problem
from mnistbench.run.environment import utc_now
from mnistbench.run.folders import check_new_run_folder
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
    """Write ``data`` (bytes or str) to ``path`` through a temporary file and a rename; a
    write that fails (a full disk) leaves ``path`` as it was and no temporary file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename in (None, str(tmp)):  # name the file the user knows, not its draft
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        check_new_run_folder(store.directory)
        try:
            store.directory.mkdir(parents=True, exist_ok=True)
            store._acquire()
        except FileExistsError:  # a part of the path is a file
            raise ParameterError(f"--out {store.directory}: a part of the path is a file, not "
                                 "a folder") from None
        except OSError as exc:
            raise ParameterError(f"--out {filesystem_problem(exc)}") from None
        store.info = {"format": FORMAT, "version": VERSION, **info, "attempts": []}
        return store

    @classmethod
    def open(cls, directory):
        """Open the run in ``directory`` to resume or extend it."""
        store = cls(directory)
        info = read_info(store.directory)  # a readable run before taking its lock
        try:
            store._acquire()  # on this host, the lock alone tells whether the run is written
        except OSError as exc:  # a read-only folder, say: the run cannot be written here
            raise ParameterError(f"cannot write the run: {filesystem_problem(exc)}") from None
        if info["status"] == "running" and info.get("host") != socket.gethostname() \
                and heartbeat_is_fresh(info):
            store._unlock()  # another host's process, which the lock cannot see
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
            try:
                self.save_info()
            except OSError:  # a full disk: the run's own next write meets it and stops the run
                pass

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
        every = max(REBUILD_S, self._rebuild_s / REBUILD_SHARE)
        if time.monotonic() - self._rebuilt_at >= every:
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

    def stopped_by(self, exc):
        """After the write that raised ``exc`` (an OSError: a full disk, a folder removed):
        record the run as stopped where that can still be written, release it, and return the
        :class:`~mnistbench.errors.RunStopped` that says what happened and what is kept (a
        plain :class:`~mnistbench.errors.MnistbenchError`, exit code 2, if it had not begun)."""
        self._stop_heartbeat.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        self.info.update(status="stopped", ended_at=utc_now())
        if self.info["attempts"]:  # none if the first attempt stopped before it began
            self.info["attempts"][-1].update(ended_at=self.info["ended_at"], status="stopped")
        try:
            self.save_info()
        except OSError:  # the same fault: run.json keeps "running", which resume reads as dead
            pass
        self.release()
        if not self.directory.is_dir():
            return RunStopped(f"the run stopped: its folder {self.directory} was removed while "
                              "it ran, and its finished jobs with it")
        if not (self.directory / RUN_FILE).is_file():  # stopped before its record was written
            for path in (self.jobs_dir(), self.directory / LOCK_FILE):  # empty again, reusable
                with contextlib.suppress(OSError):
                    path.rmdir() if path.is_dir() else path.unlink()
            return MnistbenchError(f"the run could not start: {filesystem_problem(exc)}")
        kept = len(whole_jobs(self.directory, self.info, lambda line: None))
        return RunStopped(f"the run stopped: {filesystem_problem(exc)}; {kept} finished jobs "
                          f"are kept in {self.directory}; once that is fixed, finish the run "
                          f"with --resume {self.directory}")

    def release(self):
        """Let another process write the run; a job this process was writing when a write
        failed (a full disk) is removed, half-written, before the lock goes."""
        for leftover in self.jobs_dir().glob(f"{PARTIAL}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._unlock()

    def _unlock(self):
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
