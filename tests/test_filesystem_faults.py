"""Filesystem faults a user meets during a run: a disk that fills, a folder removed, a read-only
mount. The run stops with one sentence and exit 1, keeps every finished job, leaves no temporary
file, and ``--resume`` finishes it once the cause is gone, without running a kept job again
(checked by inode and mtime, as ``tests/test_kill_resume.py`` does).

The disk fills by injection (every ``fsync`` after the first few fails with ENOSPC) and, where
this process may mount one (root on Linux), on a real 600 KiB tmpfs.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from mnistbench.run.store import write_atomic
from test_bad_inputs import command, full_disk, outside

RUN = ("--algos", "tree", "--dataset", "digits", "--repeats", "4", "--no-report")


def job_stamps(run):
    """``{job_id: (inode, mtime_ns)}`` of each finished job's ``job.json``."""
    return {path.parent.name: (path.stat().st_ino, path.stat().st_mtime_ns)
            for path in sorted(Path(run, "jobs").glob("*/job.json"))}


def leftovers(run):
    """Temporary files and half-written job folders a stopped run left behind."""
    return sorted(str(path) for path in Path(run).rglob("*")
                  if path.name.endswith(".tmp") or path.name.startswith(".partial-"))


def assert_stopped_in_one_sentence(finished, run):
    assert finished.code == 1, finished
    ours = [line for line in finished.stderr.splitlines() if line.startswith("mnistbench")]
    assert len(ours) == 1 and "Traceback" not in finished.stderr, finished.stderr
    assert "No space left on device" in ours[0] and f"--resume {run}" in ours[0]


def assert_resume_keeps_and_finishes(run, kept):
    finished = command("--resume", run, "--no-report")
    assert finished.code == 0, finished.stderr
    stamps = job_stamps(run)
    assert len(stamps) == 4
    assert {job: stamps[job] for job in kept} == kept  # not one kept job ran again
    assert json.loads((run / "run.json").read_text())["status"] == "complete"


def test_a_disk_that_fills_stops_the_run_and_resume_finishes_it(tmp_path):
    run = tmp_path / "run"
    with full_disk(after=12):  # run.json, then the first job's files, then part of the next
        finished = command(*RUN, "--out", run)
    assert_stopped_in_one_sentence(finished, run)
    kept = job_stamps(run)
    assert 1 <= len(kept) < 4
    assert f"{len(kept)} finished jobs are kept" in finished.stderr
    assert leftovers(run) == []
    assert_resume_keeps_and_finishes(run, kept)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text("the old table\n")
    with full_disk(after=0), pytest.raises(OSError, match="No space left") as raised:
        write_atomic(path, "a new table\n")
    assert raised.value.filename == str(path)  # the message names the file
    assert path.read_text() == "the old table\n"
    assert [entry.name for entry in tmp_path.iterdir()] == ["summary.csv"]


def test_a_run_whose_folder_is_removed_stops_and_says_so(tmp_path):
    from test_bad_inputs import folder_removed_after_first_job

    run = tmp_path / "run"
    with folder_removed_after_first_job(run):
        finished = command(*RUN, "--out", run)
    assert finished.code == 1
    assert finished.stderr.splitlines()[-1] == (f"mnistbench: error: the run stopped: its folder "
                                                f"{run} was removed while it ran, and its "
                                                "finished jobs with it")


def test_a_read_only_run_is_refused_by_every_command_that_writes_it(tmp_path):
    run = tmp_path / "run"
    # made without its report, which the report command below would write: refused all the same
    assert command("--algos", "tree,knn", "--dataset", "digits", "--no-report", "--out",
                   run).code == 0
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    for argv in (["report", run], ["ensemble", run, "--members", "tree,knn"],
                 ["--resume", run, "--repeats", "2"]):
        with outside(tmp_path):
            finished = command(*argv)
        assert finished.code == 2, (argv, finished)
        assert finished.stderr.count("\n") == 1 and "Read-only file system" in finished.stderr
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before


@pytest.fixture
def small_disk(tmp_path):
    """A 600 KiB tmpfs mounted at ``tmp_path/disk`` (skipped where it cannot be mounted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs",
                                            disk], capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield disk
    subprocess.run(["umount", disk], check=True)


def test_a_real_disk_that_fills_stops_the_run_and_resume_finishes_it(small_disk):
    run = small_disk / "run"
    finished = command("--algos", "tree", "--dataset", "digits", "--repeats", "20",
                       "--no-report", "--out", run)
    assert_stopped_in_one_sentence(finished, run)
    kept = job_stamps(run)
    assert 1 <= len(kept) < 20 and leftovers(run) == []
    subprocess.run(["mount", "-o", "remount,size=16m", small_disk], check=True)
    finished = command("--resume", run, "--no-report")
    assert finished.code == 0, finished.stderr
    stamps = job_stamps(run)
    assert len(stamps) == 20 and {job: stamps[job] for job in kept} == kept
