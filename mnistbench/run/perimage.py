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
copy); :func:`read_predictions` reads either, and :mod:`mnistbench.run.compact` converts such a
run in place.
"""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


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
