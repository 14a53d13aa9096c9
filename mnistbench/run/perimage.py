"""A job's per-image answers, stored once, in its folder, as Parquet: a table pandas reads
natively (``pd.read_parquet``), compressed column by column.

::

    jobs/<job_id>/predictions.parquet   one row per image and condition, zstd-compressed
      job_id      string, dictionary-encoded (one value)
      condition   string, dictionary-encoded (test, holdout, the shifts)
      index       int32, delta-encoded: the image's place in its condition, 0, 1, 2, ...
      true        labels in the smallest integer type that holds them, dictionary-encoded
      predicted   the same
      confidence  float64, present only when it is not the maximum of the image's row in
                  probabilities.npz (read back, it is restored there, as the last column);
                  dictionary- or byte-stream-split-encoded, whichever is smaller

The confidence is the highest class probability (:mod:`mnistbench.analysis.selective` ranks
images by it, ties included). ``probabilities.npz`` holds the probabilities as float32: float16
would merge distinct confidences and change that ranking (tf-softmax on MNIST: 9,805 distinct
values become 1,175). A confidence is dropped only when the writer has checked that the restored
value, the float64 of the shortest decimal of the float32 maximum (what a CSV file held), equals
it for every image. A model that outputs float32 (the networks) or whose confidences are short
decimals (0 or 1 for one neighbour or a full tree, tenths for 10 neighbours) stores none; others
(thirds, Platt-scaled SVMs, boosting, soft votes) keep their float64 column: nothing is lost.

Runs written before this format have ``predictions.csv`` in each job folder (and a run-level
copy); :func:`read_predictions` reads either. :func:`compact_run` converts such a run in place
(``python -m mnistbench.run.perimage compact RUN_DIR``), checking that every job reads back the
same table before it removes a CSV file.
"""

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mnistbench.errors import DataError
from mnistbench.run.integrity import CHECKSUMS_FILE, checksums_text

PREDICTIONS_FILE = "predictions.parquet"
OLD_PREDICTIONS_FILE = "predictions.csv"  # runs written before Parquet
PROBABILITIES_FILE = "probabilities.npz"
CONFIDENCE = "confidence"
INTEGER_TYPES = (np.int8, np.int16, np.int32, np.int64)


def decimal_values(values):
    """``values`` as float64, each the float64 of its shortest decimal (a float32 0.999982 is
    0.999982, not 0.99998199939...): what a CSV file of them reads back as. It keeps order and
    distinctness: two float32 values differ exactly when their decimals do."""
    return np.asarray(values).astype(str).astype(np.float64)


def restored_confidence(table, probabilities):
    """The confidence of each row of ``table`` (``condition``, ``index``) from
    ``probabilities`` (``{condition: N x classes}``), or None if a condition has none."""
    if not set(table["condition"]) <= set(probabilities):
        return None
    confidence = np.empty(len(table))
    conditions, index = table["condition"].to_numpy(), table["index"].to_numpy()
    for condition in pd.unique(conditions):
        rows = conditions == condition
        confidence[rows] = decimal_values(probabilities[condition].max(axis=1))[index[rows]]
    return confidence


def smallest_integers(values):
    """Integer ``values`` in the smallest integer type that holds them; others as they are."""
    values = np.asarray(values)
    if values.dtype.kind not in "iu" or not len(values):
        return values
    low, high = values.min(), values.max()
    fits = next(kind for kind in INTEGER_TYPES
                if np.iinfo(kind).min <= low and high <= np.iinfo(kind).max)
    return values.astype(fits)


def predictions_bytes(table, probabilities):
    """``predictions.parquet`` for a job's ``predictions`` table and its ``probabilities``
    (``{condition: N x classes}``, as stored in ``probabilities.npz``)."""
    columns = {name: smallest_integers(table[name]) for name in table.columns}
    derived = restored_confidence(table, probabilities)
    if derived is not None and np.array_equal(decimal_values(table[CONFIDENCE]), derived):
        del columns[CONFIDENCE]
    elif CONFIDENCE in columns:
        columns[CONFIDENCE] = decimal_values(table[CONFIDENCE])
    columns["index"] = np.asarray(table["index"], dtype=np.int32)
    if CONFIDENCE not in columns:
        return parquet_bytes(columns, {})
    # a few distinct confidences (a vote among 3 neighbours) are smallest as a dictionary,
    # graded ones with each byte of the float64 in a stream of its own: the smaller is kept
    return min(parquet_bytes(columns, {}),
               parquet_bytes(columns, {CONFIDENCE: "BYTE_STREAM_SPLIT"}), key=len)


def parquet_bytes(columns, encodings):
    """A zstd Parquet file of ``columns`` (``{name: array}``): the index delta-encoded, the
    columns named in ``encodings`` in their encoding, the others dictionary-encoded."""
    encodings = {"index": "DELTA_BINARY_PACKED", **encodings}
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="zstd", compression_level=19,
                   use_dictionary=[name for name in columns if name not in encodings],
                   column_encoding=encodings, write_statistics=False)
    return buffer.getvalue()


def read_probabilities(folder):
    """``{condition: N x classes}`` from the job folder's ``probabilities.npz``."""
    with np.load(Path(folder) / PROBABILITIES_FILE) as arrays:
        return {condition: arrays[condition] for condition in arrays.files}


def read_predictions(folder):
    """The ``predictions`` table of the job in ``folder`` (Parquet, or the CSV of runs written
    before it), or None if it has none (a failed job)."""
    folder = Path(folder)
    if (folder / PREDICTIONS_FILE).is_file():
        return predictions_from_parquet(folder)
    if (folder / OLD_PREDICTIONS_FILE).is_file():
        return pd.read_csv(folder / OLD_PREDICTIONS_FILE)
    return None


def predictions_from_parquet(folder):
    """The table in the folder's ``predictions.parquet``, its integer columns as int64 and
    its confidence restored from ``probabilities.npz`` where it was left out."""
    table = pq.read_table(folder / PREDICTIONS_FILE).to_pandas()
    for name in table.columns:
        if table[name].dtype.kind in "iu":
            table[name] = table[name].astype(np.int64)
    if CONFIDENCE not in table:
        table[CONFIDENCE] = restored_confidence(table, read_probabilities(folder))
    return table


def compact_job(folder):
    """Convert one job folder's ``predictions.csv`` to ``predictions.parquet``; return whether
    it held one. The CSV file goes only after the Parquet file reads back the same table and
    ``checksums.json`` lists the folder without it, so a crash at any point leaves a whole job
    folder, and running again finishes the work."""
    from mnistbench.run.store import write_atomic  # here: the store imports this module
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
    from mnistbench.run import loading  # here: loading and the store import this module
    from mnistbench.run.store import write_atomic
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
    """``python -m mnistbench.run.perimage compact RUN_DIR [RUN_DIR ...]``."""
    parser = argparse.ArgumentParser(prog="python -m mnistbench.run.perimage",
                                     description="Convert runs written with per-image CSV "
                                     "files to Parquet, in place, checked to be lossless.")
    commands = parser.add_subparsers(dest="command", required=True)
    compact = commands.add_parser("compact", help="compact run folders in place")
    compact.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
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
