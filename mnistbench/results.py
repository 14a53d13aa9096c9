"""A run's folder: tidy CSV tables appended job by job, and ``run.json`` with its provenance."""

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mnistbench.errors import ParameterError

SUMMARY_COLUMNS = [
    "job", "algorithm", "params", "chosen", "seed", "dataset", "dataset_checksum", "n_train",
    "n_test", "status", "error", "accuracy", "precision_macro", "recall_macro", "f1_macro",
    "fit_s", "predict_s", "images_per_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "latency_calls", "versions", "started_at", "ended_at",
]
# one CSV per table a job can produce, all in long format with the job id first
TABLES = ("summary", "per_class", "confusion", "sweep", "history", "predictions")
PACKAGES = ("numpy", "scikit-learn", "pandas", "joblib", "tensorflow", "keras")


def utc_now():
    """The current UTC time as an ISO 8601 string, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def default_run_dir(dataset, root="results/runs"):
    """``results/runs/<UTC timestamp>_<dataset>``, made unique with a suffix if it exists."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(root) / f"{stamp}_{dataset}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{stamp}_{dataset}-{suffix}"
    return path


class RunFiles:
    """Writes a run's files as results arrive, so an interrupted run keeps every finished job."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def start(self, info):
        """Create the folder and write ``run.json`` with status ``running``.

        A folder that already holds a run is refused rather than mixed with this one.
        """
        if (self.directory / "run.json").exists():
            raise ParameterError(f"{self.directory} already holds a run; choose another --out "
                                 "or remove it")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.info = {**info, "status": "running", "started_at": utc_now()}
        self._write_info()

    def add(self, tables):
        """Append one job's tables (a dict of name -> DataFrame) to their CSV files."""
        for name, table in tables.items():
            if table.empty:
                continue
            path = self.directory / f"{name}.csv"
            table.to_csv(path, mode="a", header=not path.exists(), index=False)

    def finish(self, status, jobs_done):
        """Record the end time, final status and number of finished jobs in ``run.json``."""
        self.info.update(status=status, ended_at=utc_now(), jobs_done=jobs_done)
        self._write_info()

    def _write_info(self):
        tmp = self.directory / "run.json.tmp"
        tmp.write_text(json.dumps(self.info, indent=2, default=str) + "\n")
        os.replace(tmp, self.directory / "run.json")


def environment():
    """Versions, CPU and git revision: what is needed to reproduce a run's numbers."""
    return {
        "command": command_line(),
        "python": platform.python_version(),
        "versions": installed_versions(PACKAGES + ("mnistbench",)),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "git_revision": git_revision(),
    }


def command_line():
    """The command that started this process, as a user would type it."""
    program = Path(sys.argv[0])
    if program.name == "__main__.py":  # python -m mnistbench
        return ["python", "-m", program.parent.name, *sys.argv[1:]]
    return [program.name, *sys.argv[1:]]


def installed_versions(packages):
    """Installed version of each package (without importing it); missing ones are left out."""
    versions = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision():
    """The git commit of the mnistbench source tree (with ``-dirty`` if modified), or None."""
    source = Path(__file__).resolve().parent.parent
    try:
        revision = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                                  cwd=source, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if revision.returncode != 0:
        return None
    return revision.stdout.strip() or None
