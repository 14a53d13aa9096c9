"""Where a run's jobs execute: in this process, in N processes on this machine, or on a Dask or
Ray cluster.

An engine takes a picklable function of a job spec and yields what comes back as it arrives:
the function's result, or a :class:`NoResult` for a job whose worker died under it (or that the
engine could not run). Workers load the dataset themselves and send back their job's result;
only the driver writes the run's folder.

Every engine takes the specs as they come (a generator), and keeps only a few more submitted
than run at once, so the first job of any grid starts at once.

- ``local``: one job runs at a time in this process; with ``n_jobs=N``, N at once in worker
  processes through joblib's process backend (loky).
- ``dask``: a Dask distributed cluster, through its own futures (``Client.submit``): as many
  jobs at once as its workers have threads.
- ``ray``: a Ray cluster, or a local Ray runtime started for the run, through ``ray.remote``
  tasks: one job per CPU.

Dask and Ray are not driven through their joblib backends: joblib's Dask backend never returns
when a worker dies (the ``KilledWorker`` does not reach ``Parallel``, which waits for ever;
joblib 1.6 with distributed 2026.8), and Ray's returns whole lists only (no
``return_as="generator"``) and loses every result when one worker dies. With loky, a dead worker
breaks the whole pool, and the jobs in it are lost together without telling which one killed
it. So :func:`run_jobs` runs every job lost with a worker again, alone, after the others: a job
that kills its worker kills it again and is given up; the ones lost beside it complete.

Each job's thread pools are limited to its share of its machine's cores (:func:`limit_threads`),
so that N jobs never oversubscribe them.
"""

import concurrent.futures
import os
import re
import sys
from dataclasses import asdict, dataclass, replace

import joblib


@dataclass(frozen=True)
class Placement:
    """How jobs run: the engine, how many at once, and the limits of each.

    Attributes
    ----------
    backend : {"local", "dask", "ray"}
    concurrent_jobs : int
        Jobs that run at the same time (at most); 1 for a serial run, whose timings compare.
    threads : int or None
        Threads each job's BLAS, OpenMP and TensorFlow pools may use; None leaves them as they
        are (a serial run uses the whole machine).
    timeout : float or None
        Seconds a job may run before its process is ended.
    """

    backend: str = "local"
    concurrent_jobs: int = 1
    threads: int | None = None
    timeout: float | None = None

    def alone(self):
        """This placement for a job that runs by itself."""
        return replace(self, concurrent_jobs=1)

    def columns(self):
        """The summary columns that say how a job ran."""
        return {"backend": self.backend, "concurrent_jobs": self.concurrent_jobs,
                "threads": self.threads}


@dataclass
class NoResult:
    """A job that sent nothing back: its worker died under it (``worker_died``), or the engine
    could not run it; ``reason`` says what happened, in a few words."""

    spec: object
    reason: str
    worker_died: bool = True


def run_jobs(engine, specs, call, call_alone, progress=None):
    """Every job's result (or :class:`NoResult`) as it arrives.

    A job lost with its worker runs again after the others, alone, through ``call_alone``; if
    its worker dies again, it is given up as a :class:`NoResult` saying so.
    """
    say = progress or (lambda line: None)
    lost = []
    for outcome in engine.results(call, specs):
        if isinstance(outcome, NoResult) and outcome.worker_died:
            say(f"[{outcome.spec.job_id}] lost with its worker ({outcome.reason}); it runs again "
                "alone after the others")
            lost.append(outcome.spec)
        else:
            yield outcome
    for spec in lost:
        for outcome in engine.results(call_alone, [spec]):
            if isinstance(outcome, NoResult) and outcome.worker_died:
                outcome.reason = f"its worker died while it ran, and again when it ran alone " \
                                 f"({outcome.reason})"
            yield outcome


class Engine:
    """Base of the engines: a :class:`Placement` and :meth:`results`."""

    placement = Placement()
    address = None

    def results(self, call, specs):
        """``call(spec)`` for every spec, or a :class:`NoResult`, in the order they finish."""
        raise NotImplementedError

    def describe(self):
        """What ``run.json`` records of the attempt: its placement and the cluster's address."""
        return {**asdict(self.placement), "address": self.address}

    def close(self):
        """Let go of what the engine holds."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalEngine(Engine):
    """This machine: in this process, or in ``n_jobs`` loky worker processes."""

    def __init__(self, n_jobs):
        threads = None if n_jobs == 1 else max(1, joblib.cpu_count() // n_jobs)
        self.placement = Placement("local", n_jobs, threads)

    def results(self, call, specs):
        n_jobs = self.placement.concurrent_jobs
        if n_jobs == 1:
            for spec in specs:
                yield call(spec)
            return
        remaining = iter(specs)  # taken as joblib dispatches: a grid is never expanded whole
        while True:
            dispatched, returned = [], set()
            try:
                for result in joblib.Parallel(n_jobs=n_jobs, backend="loky", batch_size=1,
                                              pre_dispatch="n_jobs",
                                              return_as="generator_unordered")(
                        tracked(call, remaining, dispatched)):
                    returned.add(result.spec.job_id)
                    yield result
                return
            except concurrent.futures.BrokenExecutor as exc:  # a worker died: the pool is gone
                reason = loky_reason(exc)
            for spec in dispatched:
                if spec.job_id not in returned:
                    yield NoResult(spec, reason)


def tracked(call, specs, dispatched):
    """joblib's calls of ``call`` on ``specs``, each spec added to ``dispatched`` as joblib
    takes it."""
    for spec in specs:
        dispatched.append(spec)
        yield joblib.delayed(call)(spec)


def loky_reason(exc):
    """``"a worker process ended (SIGKILL(-9))"`` from loky's error."""
    codes = re.search(r"exit codes of the workers are \{(.*?)\}", str(exc))
    return "a worker process ended" + (f" ({codes.group(1)})" if codes else "")


def limit_threads(threads):
    """Limit this process's thread pools to ``threads`` threads each (None: leave them).

    BLAS and OpenMP now (threadpoolctl), and through their variables the libraries loaded
    later and child processes; TensorFlow through ``TF_NUM_INTRAOP_THREADS`` and
    ``TF_NUM_INTEROP_THREADS``, which it reads when its runtime starts (and through
    ``tf.config.threading`` if it is imported but not yet started). A runtime that an earlier
    job of this worker started keeps its threads: those of the same run.
    """
    if threads is None:
        return
    import threadpoolctl

    threadpoolctl.threadpool_limits(threads)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[name] = str(threads)
    if "tensorflow" in sys.modules:
        threading = sys.modules["tensorflow"].config.threading
        try:
            threading.set_intra_op_parallelism_threads(threads)
            threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # its runtime has started
            pass
