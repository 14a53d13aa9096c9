"""Compacting a run written before per-image answers were Parquet, in place: each job's
``predictions.csv`` becomes ``predictions.parquet`` (:mod:`mnistbench.run.perimage`), the
run-level ``predictions.csv`` goes, each job folder's checksums are rewritten, and the run is
marked as the current format; each step is checked to lose nothing before a file is removed::

    python -m mnistbench.run.compact RUN_DIR [RUN_DIR ...]
"""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from mnistbench.errors import DataError
from mnistbench.run import loading
from mnistbench.run.integrity import CHECKSUMS_FILE, checksums_text
from mnistbench.run.perimage import (OLD_PREDICTIONS_FILE, PREDICTIONS_FILE,
                                     PROBABILITIES_FILE, predictions_bytes,
                                     predictions_from_parquet, read_probabilities)
from mnistbench.run.store import write_atomic


def compact_job(folder):
    """Convert one job folder's ``predictions.csv`` to ``predictions.parquet``; return whether
    it held one. The CSV file goes only after the Parquet file reads back the same table and
    ``checksums.json`` lists the folder without it, so a crash at any point leaves a whole job
    folder, and running again finishes the work."""
    folder = Path(folder)
    old_file = folder / OLD_PREDICTIONS_FILE
    if not old_file.is_file():
        return False
    old = pd.read_csv(old_file)
    if not (folder / PREDICTIONS_FILE).is_file():
        write_atomic(folder / PREDICTIONS_FILE, predictions_bytes(old, read_probabilities(
            folder) if (folder / PROBABILITIES_FILE).is_file() else {}))
    try:
        pd.testing.assert_frame_equal(predictions_from_parquet(folder), old)
    except AssertionError as exc:
        (folder / PREDICTIONS_FILE).unlink()
        raise DataError(f"{folder}: {PREDICTIONS_FILE} would not read back as "
                        f"{OLD_PREDICTIONS_FILE} ({exc}); the job is left as it was") from None
    write_atomic(folder / CHECKSUMS_FILE, checksums_text(folder, leave_out={
        OLD_PREDICTIONS_FILE}))
    old_file.unlink()
    return True


def compact_run(directory):
    """Convert the run in ``directory`` in place to Parquet per-image answers: each job's
    ``predictions.csv`` (:func:`compact_job`), then the run-level ``predictions.csv`` once the
    run's table, built from its jobs, holds the same rows; every job folder is sealed with
    checksums and the run is marked as the current format. Return the ids of the jobs
    converted.

    Raises
    ------
    DataError
        If ``directory`` holds no readable run, the run is being written, a job is damaged or
        the run-level table holds rows its jobs do not (then nothing is changed), or a job's
        table would not read back the same (that job is left as it was).
    """
    directory = Path(directory)
    info = loading.read_info(directory)
    if loading.is_locked(directory):
        raise DataError(f"{directory} is being written ({loading.run_state(directory, info)});"
                        " compact it once it has ended")
    damaged = set(loading.job_folders(directory)) - set(loading.whole_jobs(
        directory, info, say=lambda line: None))
    if damaged:
        raise DataError(f"{directory}: damaged jobs ({', '.join(sorted(damaged))}); remove or "
                        "run them again before compacting")
    before = loading.load_run(directory).predictions
    run_level = directory / OLD_PREDICTIONS_FILE
    if run_level.is_file():
        try:
            pd.testing.assert_frame_equal(pd.read_csv(run_level), before)
        except AssertionError:
            raise DataError(f"{run_level} holds rows its job folders do not; the run is left "
                            "as it was") from None
    converted = []
    for job_id in loading.job_folders(directory):
        folder = directory / loading.JOBS_DIR / job_id
        if compact_job(folder):
            converted.append(job_id)
        if not (folder / CHECKSUMS_FILE).is_file():  # a job of format 1: sealed, as 3 requires
            write_atomic(folder / CHECKSUMS_FILE, checksums_text(folder))
    after = loading.load_run(directory).predictions
    pd.testing.assert_frame_equal(after, before)
    run_level.unlink(missing_ok=True)
    info["version"] = loading.VERSION
    write_atomic(directory / loading.RUN_FILE, json.dumps(info, indent=2, default=str) + "\n")
    return converted


def main(argv=None):
    """``python -m mnistbench.run.compact RUN_DIR [RUN_DIR ...]``."""
    parser = argparse.ArgumentParser(prog="python -m mnistbench.run.compact",
                                     description="Convert runs written with per-image CSV "
                                     "files to Parquet, in place, checked to be lossless.")
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    arguments = parser.parse_args(argv)
    failed = 0
    for directory in arguments.runs:
        before = folder_bytes(directory)
        try:
            converted = compact_run(directory)
        except DataError as exc:  # one run that cannot be compacted stops none of the others
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{directory}: {len(converted)} of its jobs converted, {before:,} -> "
              f"{folder_bytes(directory):,} bytes")
    return 1 if failed else 0


def folder_bytes(directory):
    """The bytes of the files under ``directory``."""
    return sum(path.stat().st_size for path in Path(directory).rglob("*") if path.is_file())


if __name__ == "__main__":
    sys.exit(main())
