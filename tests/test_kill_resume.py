"""A real run killed with SIGKILL at random moments, and inside file writes, then resumed: no
finished job is computed twice, every file parses after every kill, and the final tables equal
an uninterrupted run's for the deterministic adapters."""

import json
import random
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from mnistbench import load_run

# no report, here or on --resume: it is not what is tested, and its plots double a run's time
ARGS = ["--algos", "knn,tree,mlp", "--dataset", "digits", "--repeats", "3",
        "--set", "mlp.epochs=5", "--no-report"]
DETERMINISTIC = ("knn", "tree")
# the CLI, its jobs timing single images for their minimum number of calls only, as the jobs run
# in the tests' own process do (conftest.py): the half second more is no part of what a kill
# must not lose, and it was most of each digits job's time
CLI = ("import sys; from mnistbench.run import timing; timing.MIN_SECONDS = 0; "
       "from mnistbench.cli import main; sys.exit(main(sys.argv[1:]))")
# the CLI, with the store's atomic writer made to die half-way through its Nth write: the
# temporary file is half written when SIGKILL arrives
DIE_DURING_WRITE = """if True:
    import os, signal, sys
    from mnistbench.run import store, timing
    timing.MIN_SECONDS = 0
    real, calls = store.write_atomic, [0]
    def write_atomic(path, data):
        calls[0] += 1
        if calls[0] == {n}:
            with open(path.with_name("." + path.name + ".tmp"), "wb") as half:
                half.write((data.encode() if isinstance(data, str) else data)[:len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        real(path, data)
    store.write_atomic = write_atomic
    from mnistbench.cli import main
    sys.exit(main({argv!r}))
"""


def command_line(*args):
    return [sys.executable, "-c", CLI, *args]


def finished_jobs(run_dir):
    """``{job_id: (inode, mtime_ns of job.json)}``: changes if a job is written again."""
    jobs = run_dir / "jobs"
    if not jobs.is_dir():
        return {}
    return {path.name: (path.stat().st_ino, (path / "job.json").stat().st_mtime_ns)
            for path in jobs.iterdir() if not path.name.startswith(".")}


def check_every_file_parses(run_dir):
    json.loads((run_dir / "run.json").read_text())
    for path in [*run_dir.glob("*.csv"), *run_dir.glob("jobs/*/*.csv")]:
        pd.read_csv(path)
    for path in run_dir.glob("jobs/*/job.json"):
        json.loads(path.read_text())
    load_run(run_dir)


def comparable(table):
    """Rows of the deterministic adapters, in a fixed order, without times and dates."""
    table = table[table["job_id"].str.split("-").str[0].isin(DETERMINISTIC)]
    drop = [c for c in table.columns if c.endswith(("_s", "_ms", "_at")) or c in (
        "images_per_s", "latency_calls", "seconds")]
    return table.drop(columns=drop).sort_values(list(table.columns[:3])).reset_index(drop=True)


def test_sigkill_at_random_moments_then_resume(tmp_path):
    # every run in a fresh process, the uninterrupted one too: a job records the versions of the
    # libraries its process has imported, and the tables are compared whole; it runs while the
    # killed ones do, on a core they leave idle much of the time (starting, and between kills)
    reference = tmp_path / "reference"
    uninterrupted = subprocess.Popen(command_line(*ARGS, "--out", str(reference)),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "killed"
    resume = ["--resume", str(run_dir), "--no-report"]
    rng = random.Random(20261125)
    # how each attempt dies: at a random moment once it has finished a job of its own, or inside
    # its Nth atomic write (the first is run.json, then a job folder's files one by one, then
    # the run-level tables)
    deaths = [("running", None), ("write", 3), ("running", None), ("write", 9), ("running", None)]
    seen, kills = {}, 0
    for number, (how, when) in enumerate(deaths):
        args = [*ARGS, "--out", str(run_dir)] if number == 0 else resume
        if how == "write":
            process = subprocess.Popen([sys.executable, "-c", DIE_DURING_WRITE.format(
                n=when, argv=args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            process.wait(timeout=120)
        else:
            process = subprocess.Popen(command_line(*args), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while len(finished_jobs(run_dir)) <= len(seen) and process.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            process.kill()
            process.wait()
        if process.returncode == -9:
            kills += 1
        check_every_file_parses(run_dir)
        now = finished_jobs(run_dir)
        assert {job_id: now[job_id] for job_id in seen} == seen, "a finished job was redone"
        seen = now
    assert kills == len(deaths)  # every attempt was killed, none ended by itself
    finish = subprocess.run(command_line(*resume), capture_output=True, text=True)
    assert finish.returncode == 0, finish.stderr
    assert f"{len(seen)} of 9 jobs already finished" in finish.stderr
    now = finished_jobs(run_dir)
    assert {job_id: now[job_id] for job_id in seen} == seen
    assert list(run_dir.glob("jobs/.*")) == [] and list(run_dir.glob(".*.tmp")) == []

    _, errors = uninterrupted.communicate(timeout=120)
    assert uninterrupted.returncode == 0, errors
    run, expected = load_run(run_dir), load_run(reference)
    assert "complete, 9 of 9 jobs" in run.state
    assert [attempt["status"] for attempt in run.info["attempts"]] == ["died"] * 5 + ["complete"]
    assert sorted(run.job_ids) == sorted(expected.job_ids) and len(set(run.job_ids)) == 9
    assert sorted(run.summary.groupby("algorithm")["seed"].apply(list).sum()) == [0] * 3 + [
        1] * 3 + [2] * 3
    for name in ("summary", "per_class", "confusion", "predictions", "sweep"):
        pd.testing.assert_frame_equal(comparable(getattr(run, name)),
                                      comparable(getattr(expected, name)))
        if name != "predictions":  # per-image answers have no run-level file
            pd.testing.assert_frame_equal(pd.read_csv(run_dir / f"{name}.csv"),
                                          getattr(run, name), check_dtype=False)
    for job_id in run.job_ids:
        proba = run.probabilities(job_id)
        assert proba.shape == (360, 10)
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
        if job_id.split("-")[0] in DETERMINISTIC:
            np.testing.assert_array_equal(proba, expected.probabilities(job_id))
