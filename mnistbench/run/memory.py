"""Memory checked before a job starts: what it will allocate, against what it may.

A job that cannot fit is refused with a sentence saying what it needs and what there is, rather
than killed by the operating system (or a Dask nanny) half-way through, which takes its worker
with it. The estimate is each adapter's own (:meth:`DigitClassifier.memory_estimate
<mnistbench.classifiers.base.DigitClassifier.memory_estimate>`: KNN distance blocks, network
activations per batch, copies of the training images), plus the copies augmentation adds and
the outputs the runner keeps. The images already loaded are already counted as used.
"""

import socket
import sys
from pathlib import Path

import psutil

from mnistbench.datasets.transforms import parse_transforms
from mnistbench.errors import MnistbenchError

CGROUP = Path("/sys/fs/cgroup")  # cgroup v2: a container's own memory limit
DASK_TERMINATE = 0.95  # a Dask nanny restarts its worker at this share of its memory limit


class NotEnoughMemory(MnistbenchError):
    """A job would need more memory than its process may still allocate."""


def job_memory(classifier, n_fit, n_predict, n_features, n_classes, n_predicted):
    """``{what: bytes}`` a job will allocate once its images are loaded.

    Parameters
    ----------
    classifier : DigitClassifier
        The job's adapter, not fitted.
    n_fit, n_features : int
        Training images (before augmentation) and pixels per image.
    n_predict : int
        The most images one ``predict`` call of the job gets (its largest condition).
    n_classes : int
    n_predicted : int
        Images predicted over all conditions, whose probabilities and rows the job keeps.
    """
    copies = len(parse_transforms(classifier.get_params().get("augment", "none")))
    needs = {}
    if copies:
        needs[f"{copies} augmented copies of the training images"] = copies * n_fit * n_features
    needs.update(classifier.memory_estimate((1 + copies) * n_fit, n_predict, n_features,
                                            n_classes))
    # float64 probabilities and their float32 copy, plus the predictions table's rows
    needs["outputs kept for every predicted image"] = n_predicted * (12 * n_classes + 48)
    return needs


def available_memory():
    """``(bytes, where)``: what a job starting now in this process may allocate, and a few words
    on the limit that decides it: the machine's available memory, a container's (cgroup v2)
    limit, or on a Dask worker what its memory limit leaves."""
    host = socket.gethostname()
    limits = [(psutil.virtual_memory().available, f"available on {host}")]
    container = cgroup_headroom()
    if container is not None:
        limits.append((container, f"left under the container's memory limit on {host}"))
    worker = dask_worker()
    if worker is not None and worker.memory_manager.memory_limit:
        used = psutil.Process().memory_info().rss
        limits.append((int(DASK_TERMINATE * worker.memory_manager.memory_limit) - used,
                       f"left under the memory limit of Dask worker {worker.address}"))
    return min(limits)


def cgroup_headroom(root=CGROUP):
    """Bytes left under this process's cgroup v2 memory limit, or None where there is none."""
    try:
        limit = (root / "memory.max").read_text().strip()
        current = int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else int(limit) - current


def dask_worker():
    """The Dask worker this code runs in, or None (Dask is not imported unless it is in use)."""
    if "distributed" not in sys.modules:
        return None
    try:
        return sys.modules["distributed"].get_worker()
    except ValueError:
        return None


def check_memory(classifier, n_fit, n_predict, n_features, n_classes, n_predicted):
    """Raise :class:`NotEnoughMemory` if the job's estimate (:func:`job_memory`) exceeds what
    this process may allocate (:func:`available_memory`)."""
    needs = job_memory(classifier, n_fit, n_predict, n_features, n_classes, n_predicted)
    available, where = available_memory()
    total = sum(needs.values())
    if total > available:
        largest = max(needs, key=needs.get)
        raise NotEnoughMemory(
            f"needs about {gigabytes(total)} (the most for {largest}: "
            f"{gigabytes(needs[largest])}) but {gigabytes(max(available, 0))} is {where}; run it "
            "where there is more memory, or with smaller batches or fewer images")


def gigabytes(n_bytes):
    """``1234567890`` as ``"1.23 GB"``."""
    return f"{n_bytes / 1e9:.2f} GB"
