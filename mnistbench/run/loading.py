"""Reading a run's folder: its ``run.json``, its state, and its jobs' tables
(:func:`load_run`). Written by :mod:`mnistbench.run.store`, whose docstring draws the folder.

A job folder whose files do not match their checksums (:mod:`mnistbench.run.integrity`) is
damaged: it is named in one warning line and left out of every table.
"""

import datetime
import fcntl
import json
import os
import socket
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from mnistbench.analysis.tables import derived_tables
from mnistbench.datasets.readers import read_json
from mnistbench.errors import DataError, MnistbenchWarning, ParameterError
from mnistbench.run.integrity import damage
from mnistbench.run.perimage import PROBABILITIES_FILE, read_predictions
from mnistbench.run.schema import CLEAN, LONG_TABLES, SUMMARY_COLUMNS, TABLES

FORMAT = "mnistbench-run"
# 2: the experiment in run.json, jobs expanded as they run, checksums per job; 3: per-image
# answers in Parquet (mnistbench.run.perimage), no run-level copy of them
VERSION = 3
READS = (1, 2, 3)
RUN_FILE = "run.json"
LOCK_FILE = ".lock"
JOBS_DIR = "jobs"
JOB_FILE = "job.json"
HEARTBEAT_S = 10
STALE_HEARTBEATS = 6  # a run from another host with no heartbeat for a minute is dead


class DamagedJob(MnistbenchWarning):
    """A job folder whose files do not match their checksums: left out of the run's tables."""


def read_info(directory):
    """The checked ``run.json`` of the run in ``directory``."""
    directory = Path(directory)
    path = directory / RUN_FILE
    if not directory.is_dir():
        raise DataError(f"{directory} is not a folder holding an mnistbench run")
    if not path.is_file():
        raise DataError(f"{directory} holds no mnistbench run (no {RUN_FILE})")
    info = read_json(path)
    if not isinstance(info, dict) or "jobs" not in info and "request" not in info:
        raise DataError(f"{path} is not an mnistbench run record")
    if info.get("format") != FORMAT:
        raise DataError(f"{directory} was written by an mnistbench from before job folders "
                        "(0.1); its CSV files read as they are, but it cannot be loaded or "
                        "resumed")
    if info.get("version") not in READS:
        raise DataError(f"{directory} is in run format version {info.get('version')}; this "
                        f"mnistbench reads versions {', '.join(map(str, READS))}")
    return info


def run_state(directory, info=None):
    """A few words on the run's state: complete, interrupted, running (and by whom), or dead
    (its process stopped without saying so: a crash, or ``kill -9``)."""
    try:
        info = info or read_info(directory)
    except DataError as exc:
        return f"not readable: {exc}"
    finished = job_folders(directory)
    done = f"{len(finished)} of {job_count(info)} jobs finished"
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


def job_count(info):
    """How many jobs the run's request holds (counted when it started or was extended)."""
    return info["job_count"] if "job_count" in info else len(info["jobs"])


def read_job(directory, job_id):
    """The ``job.json`` of a finished job."""
    return json.loads((Path(directory) / JOBS_DIR / job_id / JOB_FILE).read_text())


def whole_jobs(directory, info, say=None, known=None):
    """``{job_id: job.json}`` of the finished jobs that are whole, in the run's order (the
    order of its request, then votes and the like in the order they were made); each damaged
    one is named through ``say`` (default: a :class:`DamagedJob` warning) and left out.
    ``known`` (``{job_id: job.json}``) holds jobs already read and checked by this process."""
    records = {}
    for job_id in job_folders(directory):
        if known and job_id in known:
            records[job_id] = known[job_id]
            continue
        reason = damage(Path(directory) / JOBS_DIR / job_id, required=info["version"] >= 2)
        if reason is None:
            records[job_id] = read_job(directory, job_id)
        else:
            line = f"[{job_id}] damaged ({reason})"
            (say or (lambda text: warnings.warn(f"{directory}: {text}; it is left out",
                                                DamagedJob, stacklevel=3)))(line)
    # runs of format 1 list their jobs; later ones record (attempt, place in its request)
    listed = {job["job_id"]: [-1, index] for index, job in enumerate(info.get("jobs", []))}

    def order(job_id):
        record = records[job_id]
        position = listed.get(job_id, record.get("position"))
        return (position is None, tuple(position or ()),
                record["summary"].get("ended_at") or "", job_id)
    return {job_id: records[job_id] for job_id in sorted(records, key=order)}


def job_tables(directory, job_id, record):
    """One job's tables: its summary row (from its ``job.json``, ``record``) and the long
    tables it has (its per-image ``predictions`` through :mod:`mnistbench.run.perimage`)."""
    folder = Path(directory) / JOBS_DIR / job_id
    tables = {"summary": pd.DataFrame([record["summary"]])}
    for name in LONG_TABLES:
        if name == "predictions":
            predictions = read_predictions(folder)
            if predictions is not None:
                tables[name] = predictions
        elif (folder / f"{name}.csv").is_file():
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
        The run's tables, built from its job folders (the same rows as its CSV files;
        ``predictions``, one row per image, condition and job, has no run-level file).
    configurations, pairs, pairs_by_seed : DataFrame
        Derived from them (:func:`mnistbench.analysis.tables.derived_tables`) when first read.
    job_ids : list of str
        The finished jobs (``ok`` or failed) whose files are whole, in the run's order.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.info = read_info(self.directory)
        records = whole_jobs(self.directory, self.info)
        self.job_ids = list(records)
        tables = join_tables([job_tables(self.directory, job_id, record)
                              for job_id, record in records.items()])
        for name, table in tables.items():
            setattr(self, name, table)

    @cached_property
    def _derived(self):
        return derived_tables(self.summary, self.predictions)

    @property
    def configurations(self):
        return self._derived["configurations"]

    @property
    def pairs(self):
        return self._derived["pairs"]

    @property
    def pairs_by_seed(self):
        return self._derived["pairs_by_seed"]

    @property
    def state(self):
        """``complete``, ``interrupted``, ``running`` (with its process and heartbeat) or
        ``dead``, with how many jobs are finished: read now, not when the run was loaded."""
        return run_state(self.directory)

    def probabilities(self, job_id, condition=CLEAN):
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
        condition="test")``. A damaged job (see :mod:`mnistbench.run.integrity`) is left out
        with a :class:`DamagedJob` warning naming it.

    Raises
    ------
    DataError
        If ``path`` holds no run written by this version of mnistbench.
    """
    return Run(path)
