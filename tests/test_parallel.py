"""Runs that scale out: N jobs at once on this machine, a Dask LocalCluster with worker
processes and a local Ray runtime give a serial run's results; a worker killed in the middle of
a job costs that job alone and --resume finishes the run; a job over its time limit is ended
with its process; a job that cannot fit in memory is refused before it starts."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from mnistbench import load_run
from mnistbench.classifiers import knn, registry
from mnistbench.classifiers.registry import get_classifier
from mnistbench.cli import main
from mnistbench.errors import ParameterError
from mnistbench.report.console import summary_table
from mnistbench.run import engines, memory
from mnistbench.run.experiment import Experiment
from mnistbench.run.job import run_job
from mnistbench.run.parallel import NoResult, Placement
from mnistbench.run.runner import as_stored, resume_benchmark, run_benchmark
from mnistbench.run.spec import JobSpec
from mnistbench.run.timeout import ChildDied, TimedOut, call_with_timeout

ALGOS = ["knn", "tree"]


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    for name, target in (("dies", "DiesInFit"), ("stalls", "Stalls"),
                         ("reports-threads", "ReportsThreads")):
        monkeypatch.setitem(registry.ALGORITHMS, name, f"fake_algorithms:{target}")


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return run_benchmark(ALGOS, dataset="digits", repeats=2, out=tmp_path_factory.mktemp("serial"))


@pytest.fixture(scope="module")
def dask_scheduler():
    """A LocalCluster of two single-thread worker processes, shared by this module's tests;
    a task whose worker dies is failed at once (KilledWorker), not tried on three more."""
    import dask
    import distributed

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.CRITICAL)
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(scope="module")
def ray_runtime():
    """A local Ray runtime of two CPUs, shared by this module's tests (the runner uses one
    already started, and leaves it running)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, sys.path))}})
    yield
    ray.shutdown()


@pytest.fixture(params=["local", pytest.param("dask", marks=pytest.mark.cluster),
                        pytest.param("ray", marks=pytest.mark.cluster)])
def engine(request):
    """run_benchmark's options for two jobs at once: local processes, Dask or Ray (the cluster
    marker: starting them costs more than the local runs)."""
    if request.param == "dask":
        return {"backend": "dask", "address": request.getfixturevalue("dask_scheduler")}
    if request.param == "ray":
        request.getfixturevalue("ray_runtime")
        return {"backend": "ray"}
    return {"n_jobs": 2}


def job_folders(run_dir):
    """``{job_id: (inode, mtime_ns of job.json)}``: changes if a job is written again."""
    return {path.name: (path.stat().st_ino, (path / "job.json").stat().st_mtime_ns)
            for path in (run_dir / "jobs").iterdir() if not path.name.startswith(".")}


def test_every_backend_gives_the_serial_results_with_limited_threads(engine, serial, tmp_path):
    summary = run_benchmark([*ALGOS, "reports-threads"], dataset="digits", repeats=2,
                            out=tmp_path, **engine)
    backend = engine.get("backend", "local")
    assert (summary["status"] == "ok").all() and len(summary) == 6
    assert (summary["backend"] == backend).all() and (summary["concurrent_jobs"] == 2).all()
    assert (summary["threads"] == 1).all()  # two cores, two jobs at once
    ours = summary.set_index("job_id").loc[serial["job_id"]]
    assert ours["accuracy"].tolist() == serial["accuracy"].tolist()
    run, reference = load_run(tmp_path), load_run(serial.attrs["directory"])
    for job_id in serial["job_id"]:
        np.testing.assert_array_equal(run.probabilities(job_id),
                                      reference.probabilities(job_id))
    for chosen in summary.loc[summary["algorithm"] == "reports-threads", "chosen"]:
        assert json.loads(chosen) == {"blas": [1], "tensorflow": 1}
    assert run.info["attempts"][-1]["backend"] == backend
    assert run.info["attempts"][-1]["concurrent_jobs"] == 2
    assert f"note: 6 of 6 jobs ran up to 2 at a time ({backend}, 1 thread(s) each)" in \
        summary_table(summary)
    assert "note:" not in summary_table(serial)


def test_a_killed_worker_costs_its_job_alone_and_resume_finishes(engine, tmp_path):
    # the job of times=1 kills its worker once and completes when it runs again alone; the job
    # of times=2 kills it twice and is recorded as failed, until --resume runs it a third time
    options = {"dataset": "digits", "params": {"dies": {"tally": str(tmp_path)}},
               "grid": {"dies": {"times": [1, 2]}}, **engine}
    summary = run_benchmark(["knn", "dies", "tree"], out=tmp_path / "run", **options)
    statuses = dict(zip(summary["algorithm"] + summary["params"], summary["status"]))
    assert [statuses[key] for key in sorted(statuses)] == ["ok", "error", "ok", "ok"]
    failed = summary[summary["status"] == "error"].iloc[0]
    assert json.loads(failed["params"])["times"] == "2"
    assert failed["error"].startswith("WorkerDied: its worker died while it ran, and again when "
                                      "it ran alone (")
    before = job_folders(tmp_path / "run")
    again = resume_benchmark(tmp_path / "run", **engine)
    assert (again["status"] == "ok").all() and len(again) == 4
    after = job_folders(tmp_path / "run")
    assert {job_id: after[job_id] for job_id in before if job_id != failed["job_id"]} == {
        job_id: stamp for job_id, stamp in before.items() if job_id != failed["job_id"]}
    assert [attempt["status"] for attempt in load_run(tmp_path / "run").info["attempts"]] == [
        "complete", "complete"]


def test_a_job_over_its_time_is_ended_and_resume_reruns_it(serial, tmp_path):
    summary = run_benchmark(["stalls", "knn"], dataset="digits", out=tmp_path / "run",
                            params={"stalls": {"tally": str(tmp_path)}}, timeout=5)
    stalled, knn = summary.iloc[0], summary.iloc[1]
    assert stalled["status"] == "timeout"
    assert stalled["error"] == "over its 5 s time limit; its process was ended"
    assert knn["status"] == "ok" and knn["accuracy"] == serial.loc[0, "accuracy"]
    pid = int((tmp_path / "Stalls-1-0").read_text().split()[0])
    assert not psutil.pid_exists(pid)
    assert load_run(tmp_path / "run").info["attempts"][0]["timeout"] == 5
    again = resume_benchmark(tmp_path / "run")  # no limit now: it completes
    assert again["status"].tolist() == ["ok", "ok"]


def test_timeout_1_on_an_mlp_job_gives_a_timeout_row(tmp_path, cli):
    # on MNIST: on the 8x8 digits the mlp can finish within the second on a quiet machine
    result = cli("--algos", "mlp", "--timeout", "1", "--no-report", "--out", tmp_path / "run")
    assert result.returncode == 1, result.stderr
    assert "timeout: over its 1 s time limit; its process was ended" in result.stdout
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert summary["status"].tolist() == ["timeout"]


def test_a_child_over_time_or_killed_leaves_nothing_running(tmp_path):
    started = time.monotonic()
    with pytest.raises(TimedOut, match="over its 1 s time limit"):
        call_with_timeout(time.sleep, (60,), 1)
    assert time.monotonic() - started < 30
    with pytest.raises(ChildDied, match=r"ended without a result \(killed by SIGKILL\)"):
        call_with_timeout(signal.raise_signal, (signal.SIGKILL,), 60)
    # a worker killed while its job runs in a child: the child ends itself
    worker = subprocess.Popen([sys.executable, "-c", "import time; from mnistbench.run.timeout "
                               "import call_with_timeout; call_with_timeout(time.sleep, (60,), "
                               "120)"])
    try:
        deadline = time.monotonic() + 60
        while not psutil.Process(worker.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        [child] = psutil.Process(worker.pid).children()
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 10
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(child)
    finally:
        worker.kill()


def running(process):
    """Whether ``process`` still runs (a zombie waiting for init to reap it does not)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_job_that_cannot_fit_in_memory_is_refused_and_resume_runs_it(tmp_path, monkeypatch):
    needs = memory.job_memory(get_classifier("knn"), 1437, 360, 64, 10, 360)
    threads = knn.blas_threads()
    assert needs[f"a block of 128 x 1,437 float32 bounds per thread ({threads})"] \
        == threads * 4 * 128 * 1437
    largest = max(needs, key=needs.get)
    budget = sum(needs.values()) // 2  # half what KNN needs, far more than the tree's
    monkeypatch.setattr(memory, "available_memory", lambda: (budget, "available on testhost"))
    summary = run_benchmark(ALGOS, dataset="digits", out=tmp_path)
    assert summary["status"].tolist() == ["refused", "ok"]
    assert summary.loc[0, "error"].startswith(
        f"NotEnoughMemory: needs about {sum(needs.values()) / 1e9:.2f} GB (the most for "
        f"{largest}: {needs[largest] / 1e9:.2f} GB) but {budget / 1e9:.2f} GB is available on "
        "testhost")
    monkeypatch.undo()
    assert resume_benchmark(tmp_path)["status"].tolist() == ["ok", "ok"]


def test_memory_estimates_and_limits(tmp_path):
    def total(name, **params):
        return sum(memory.job_memory(get_classifier(name, **params), 60000, 10000, 784, 10,
                                     10000).values())

    # a 172 MB index, and a 31 MB block of bounds per thread
    assert 2.5e8 < total("knn") < 5.6e8 + 3.1e7 * knn.blas_threads()
    assert total("knn", augment="rot180") > total("knn") + 60000 * 784
    assert total("tf-mlp", batch_size=100000) > 2 * total("tf-mlp")
    assert total("cnn", preset="deep") > 1.5e9 > total("cnn")
    (tmp_path / "memory.max").write_text("1000000000\n")
    (tmp_path / "memory.current").write_text("400000000\n")
    assert memory.cgroup_headroom(tmp_path) == 600_000_000
    (tmp_path / "memory.max").write_text("max\n")
    assert memory.cgroup_headroom(tmp_path) is None


@pytest.mark.cluster
def test_a_dask_worker_knows_its_memory_limit(dask_scheduler):
    import distributed

    with distributed.Client(dask_scheduler, set_as_default=False) as client:
        limit = client.scheduler_info()["workers"]
        available, where = client.submit(memory.available_memory, pure=False).result()
    assert where.startswith("left under the memory limit of Dask worker tcp://")
    assert 0 < available < max(worker["memory_limit"] for worker in limit.values())


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engines, "DASK_WAIT_S", 1)
    assert main(["--dataset", "digits", "--backend", "dask", "--scheduler", "tcp://127.0.0.1:1",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mnistbench: error: cannot reach the Dask scheduler at "
                          "tcp://127.0.0.1:1: Timed out trying to connect") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_result_computed_on_other_data_is_not_stored_as_the_runs(digits):
    spec = JobSpec("tree", dataset="digits")
    result = run_job(spec, Experiment())
    stored = as_stored(result, "0" * 32, Placement("dask", 4, 1))
    assert stored.record["status"] == "error" and not stored.tables
    assert stored.record["error"].startswith(f"DataError: it ran on digits data with checksum "
                                             f"{digits.checksum} on ")
    assert as_stored(result, digits.checksum, Placement()) is result
    lost = as_stored(NoResult(spec, "Dask worker tcp://x died"), digits.checksum, Placement())
    assert lost.record["error"] == "WorkerDied: Dask worker tcp://x died"


@pytest.mark.parametrize("module, extra, backend", [("distributed", "dask", "dask"),
                                                    ("ray", "ray", "ray")])
def test_a_missing_extra_is_named(module, extra, backend, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    message = f"{extra} is not installed; pip install 'mnistbench[{extra}]'"
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_benchmark(ALGOS, dataset="digits", backend=backend, address="tcp://host:8786",
                      out=tmp_path / "run")
    flags = ["--scheduler", "tcp://host:8786"] if backend == "dask" else []
    assert main(["--dataset", "digits", "--backend", backend, *flags, "--out",
                 str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"mnistbench: error: {message}\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "tcp://host:8786"], "--scheduler is for --backend dask"),
    (["--backend", "ray", "--scheduler", "tcp://host:8786"], "--scheduler is for --backend dask"),
    (["--address", "auto"], "--address is for --backend ray"),
    (["--backend", "dask"], "the dask backend needs the address of a running Dask scheduler"),
    (["--jobs", "0"], "jobs must be an integer in [1, 1024], got 0"),
    (["--backend", "ray", "--jobs", "2"], "the number of jobs at once is for the local backend"),
    (["--timeout", "0"], "the timeout must be a number of seconds above 0, got 0.0"),
])
def test_bad_execution_options_are_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main(["--dataset", "digits", *args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mnistbench: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
