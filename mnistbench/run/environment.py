"""What a run records about where and how it ran: versions, CPU, git revision, command line."""

import datetime
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

PACKAGES = ("numpy", "scikit-learn", "pandas", "joblib", "tensorflow", "keras", "lightgbm")


def utc_now():
    """The current UTC time as an ISO 8601 string, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def environment():
    """Versions, CPU and git revision: what is needed to reproduce a run's numbers."""
    return {
        "command": command_line(),
        "python": platform.python_version(),
        "versions": installed_versions(PACKAGES + ("mnistbench",)),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "host": socket.gethostname(),
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
