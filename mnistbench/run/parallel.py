"""Where a run's jobs execute: in this process, in N processes on this machine, or on a Dask or
Ray cluster.

An engine takes a picklable function of a job spec and yields what comes back as it arrives:
the function's result, or a :class:`NoResult` for a job whose worker died under it (or that the
engine could not run). Workers load the dataset themselves and send back their job's result;
only the driver writes the run's folder.

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
import importlib
import os
import re
import socket
import sys
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, replace

import joblib

from mnistbench.errors import ParameterError
from mnistbench.run.spec import check_in_range_int

BACKENDS = ("local", "dask", "ray")
MAX_JOBS = 1024
DASK_WAIT_S = 30  # for a scheduler to answer, and for its first worker


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


def open_engine(backend="local", n_jobs=1, address=None, timeout=None, progress=None):
    """The engine that runs a run's jobs, as a context manager (it disconnects from a cluster,
    or stops the Ray runtime it started, on leaving).

    Parameters
    ----------
    backend : {"local", "dask", "ray"}
    n_jobs : int
        Jobs at once on this machine (``local`` only; a cluster's workers decide for it).
    address : str, optional
        The Dask scheduler's address (required for ``dask``), or the Ray cluster's (``ray``;
        without one, a local Ray runtime is started and stopped with the run).
    timeout : float, optional
        Seconds each job may run.
    progress : callable, optional
        Called with a line of text when something takes a while (starting Ray).

    Raises
    ------
    ParameterError
        For an unknown backend, a value that does not apply to it, an extra that is not
        installed, or a cluster that cannot be reached.
    """
    if backend not in BACKENDS:
        raise ParameterError(f"unknown backend '{backend}'; choose from: {', '.join(BACKENDS)}")
    check_in_range_int("jobs", n_jobs, 1, MAX_JOBS)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(
            timeout, (int, float)) or not timeout > 0):
        raise ParameterError(f"the timeout must be a number of seconds above 0, got {timeout!r}")
    if n_jobs != 1 and backend != "local":
        raise ParameterError(f"the number of jobs at once is for the local backend; on a {backend} "
                             "cluster, its workers decide it")
    if address is not None and backend == "local":
        raise ParameterError("a cluster address is for the dask and ray backends, not local")
    if backend == "dask" and not address:
        raise ParameterError("the dask backend needs the address of a running Dask scheduler, "
                             "e.g. tcp://10.0.0.5:8786")
    say = progress or (lambda line: None)
    engine = {"local": lambda: LocalEngine(n_jobs), "dask": lambda: DaskEngine(address),
              "ray": lambda: RayEngine(address, say)}[backend]()
    engine.placement = replace(engine.placement, timeout=timeout)
    return engine


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
        remaining = list(specs)
        while remaining:
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
            remaining = remaining[len(dispatched):]


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


class DaskEngine(Engine):
    """A Dask distributed cluster, through ``Client.submit``; a job whose worker died has been
    tried on as many workers as the scheduler allows (``allowed-failures``) before it is
    lost."""

    def __init__(self, address):
        distributed = require("distributed", "dask")
        self.address = address
        try:
            self.client = distributed.Client(address, timeout=DASK_WAIT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:  # TypeError: TLS unset
            raise ParameterError(f"cannot reach the Dask scheduler at {address}: "
                                 f"{first_line(exc)}") from None
        try:
            self.client.wait_for_workers(1, timeout=DASK_WAIT_S)
            workers = self.client.run(worker_machine)
        except (OSError, TimeoutError) as exc:
            self.client.close()
            raise ParameterError(f"the Dask scheduler at {address} has no workers that answer "
                                 f"({first_line(exc)})") from None
        slots, cores = Counter(), {}
        for host, cpus, nthreads in workers.values():
            slots[host] += nthreads
            cores[host] = cpus
        threads = min(max(1, cores[host] // slots[host]) for host in slots)
        self.placement = Placement("dask", sum(slots.values()), threads)

    def results(self, call, specs):
        distributed = sys.modules["distributed"]
        futures = {self.client.submit(call, spec, key=f"{spec.job_id}-{uuid.uuid4().hex[:8]}",
                                      pure=False): spec for spec in specs}
        try:
            for future in distributed.as_completed(list(futures), loop=self.client.loop):
                spec = futures.pop(future)
                yield future.result() if future.status == "finished" else \
                    dask_no_result(spec, future)
        finally:  # interrupted: what has not come back is not wanted
            self.client.cancel(list(futures))

    def close(self):
        self.client.close()


def worker_machine(dask_worker):
    """``(host, cores, threads)`` of a Dask worker (run on each by ``Client.run``)."""
    return socket.gethostname(), os.cpu_count(), dask_worker.state.nthreads


def dask_no_result(spec, future):
    """The :class:`NoResult` of a Dask future that did not finish."""
    distributed = sys.modules["distributed"]
    if future.cancelled():
        return NoResult(spec, "the Dask scheduler cancelled it")
    exc = future.exception()
    if isinstance(exc, distributed.KilledWorker):
        died = exc.allowed_failures + 1
        return NoResult(spec, f"{died} Dask worker{'s' * (died > 1)} died running it, the last "
                              f"{exc.last_worker.address}")
    return NoResult(spec, f"{type(exc).__name__}: {first_line(exc)}", worker_died=False)


class RayEngine(Engine):
    """A Ray cluster, or a local Ray runtime started for the run (its workers import what this
    process can); each job is a task of one CPU, not retried by Ray itself."""

    def __init__(self, address, say):
        ray = require("ray", "ray")
        self.address = address
        self.started = not ray.is_initialized()
        if self.started:
            say(f"connecting to the Ray cluster at {address}" if address
                else "starting a local Ray runtime")
            # a local runtime's workers see this process's modules, as loky's and Dask's do
            env = None if address else {"env_vars": {"PYTHONPATH": os.pathsep.join(
                path for path in sys.path if path)}}
            try:
                ray.init(address=address, runtime_env=env, include_dashboard=False,
                         logging_level="WARNING")
            except (ConnectionError, ValueError) as exc:
                raise ParameterError(f"cannot reach the Ray cluster at {address}: "
                                     f"{first_line(exc)}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.placement = Placement("ray", cpus, 1)

    def results(self, call, specs):
        ray = sys.modules["ray"]
        task = ray.remote(num_cpus=1, max_retries=0)(apply)
        shared = ray.put(call)
        pending = {task.remote(shared, spec): spec for spec in specs}
        try:
            while pending:
                [ready], _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(ready)
                try:
                    outcome = ray.get(ready)
                except ray.exceptions.RayTaskError as exc:  # raised by the call itself
                    outcome = NoResult(spec, f"{type(exc.cause).__name__}: "
                                             f"{first_line(exc.cause)}", worker_died=False)
                except ray.exceptions.RayError as exc:  # its worker crashed, or was killed
                    outcome = NoResult(spec, f"{type(exc).__name__}: {first_line(exc)}")
                yield outcome
        finally:  # interrupted: end what still runs
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self):
        if self.started:
            sys.modules["ray"].shutdown()


def apply(call, spec):
    """``call(spec)``, as a Ray task."""
    return call(spec)


def require(module, extra):
    """Import ``module`` from the optional extra ``extra``, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ParameterError(f"{extra} is not installed; pip install 'mnistbench[{extra}]'") \
            from None


def first_line(exc):
    """The first line of an exception's message."""
    return (str(exc).strip().splitlines() or [""])[0]


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
