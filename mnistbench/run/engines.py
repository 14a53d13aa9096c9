"""The engines a run can use, opened by name: this machine (:class:`~mnistbench.run.parallel.
LocalEngine`), a Dask distributed cluster or a Ray cluster (see :mod:`mnistbench.run.parallel`
for what an engine does, and why Dask and Ray are driven through their own futures).

A cluster engine keeps a window of jobs submitted, a few more than its workers run at once, and
submits the next as one comes back: a grid is never expanded whole.
"""

import importlib
import itertools
import os
import socket
import sys
import uuid
from collections import Counter
from dataclasses import replace

from mnistbench.errors import ParameterError
from mnistbench.run.parallel import Engine, LocalEngine, NoResult, Placement

DASK_WAIT_S = 30  # for a scheduler to answer, and for its first worker
WINDOW = 2  # jobs submitted per job a cluster runs at once


def open_engine(experiment, progress=None):
    """The engine that runs ``experiment``'s jobs (its ``backend``, ``n_jobs``, ``address`` and
    ``timeout``, checked by :meth:`~mnistbench.run.experiment.Experiment.checked`), as a context
    manager (it disconnects from a cluster, or stops the Ray runtime it started, on leaving).

    Parameters
    ----------
    experiment : Experiment
    progress : callable, optional
        Called with a line of text when something takes a while (starting Ray).

    Raises
    ------
    ParameterError
        For an extra that is not installed, or a cluster that cannot be reached.
    """
    say = progress or (lambda line: None)
    address = experiment.address
    engine = {"local": lambda: LocalEngine(experiment.n_jobs),
              "dask": lambda: DaskEngine(address),
              "ray": lambda: RayEngine(address, say)}[experiment.backend]()
    engine.placement = replace(engine.placement, timeout=experiment.timeout)
    return engine


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
        specs, futures = iter(specs), {}
        for spec in itertools.islice(specs, WINDOW * self.placement.concurrent_jobs):
            futures[self.submit(call, spec)] = spec
        try:
            waiting = distributed.as_completed(list(futures), loop=self.client.loop)
            for future in waiting:
                spec = futures.pop(future)
                outcome = future.result() if future.status == "finished" else \
                    dask_no_result(spec, future)
                for following in itertools.islice(specs, 1):
                    submitted = self.submit(call, following)
                    futures[submitted] = following
                    waiting.add(submitted)
                yield outcome
        finally:  # interrupted: what has not come back is not wanted
            self.client.cancel(list(futures))

    def submit(self, call, spec):
        """A future of ``call(spec)``, under a key of its own (a job run again is another)."""
        return self.client.submit(call, spec, key=f"{spec.job_id}-{uuid.uuid4().hex[:8]}",
                                  pure=False)

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
        specs = iter(specs)
        pending = {task.remote(shared, spec): spec
                   for spec in itertools.islice(specs, WINDOW * self.placement.concurrent_jobs)}
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
                pending.update({task.remote(shared, spec): spec
                                for spec in itertools.islice(specs, 1)})
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
