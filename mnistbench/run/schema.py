"""What a run records, defined once: the condition names, the columns of every table, and the
summary row of a job (a real one, or a vote of several: :mod:`mnistbench.run.combine`).

This module imports nothing from the project, so every floor may read it.
"""

import json

CLEAN = "test"  # the clean test set, the condition every job is scored on
HOLDOUT = "holdout"  # the last 10% of the training set, left out of the fit

SUMMARY_COLUMNS = [
    "job_id", "algorithm", "params", "resolved", "chosen", "seed", "dataset", "augment",
    "dataset_checksum", "n_train", "n_fit_images", "n_test", "status", "error", "accuracy",
    "precision_macro", "recall_macro", "f1_macro", "mean_confidence", "fit_s", "predict_s",
    "images_per_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_calls",
    "framework", "device", "host", "backend", "concurrent_jobs", "threads", "versions",
    "started_at", "ended_at",
]
# one job's long tables, each a file per job and a run-level file joining them
LONG_TABLES = ("per_class", "confusion", "predictions", "sweep", "history", "shifts",
               "selective")
TABLES = ("summary",) + LONG_TABLES
# derived from the job tables by mnistbench.analysis.tables, written beside them
ANALYSIS_TABLES = ("configurations", "pairs", "pairs_by_seed")
# the columns that start a job's long tables (predictions are the job's alone: no algorithm)
LONG_KEYS = {"predictions": ["job_id"]}
DEFAULT_LONG_KEYS = ["job_id", "algorithm"]


def summary_row(spec, started_at, **values):
    """A job's summary row: what its ``spec`` says, when it started, then ``values`` (any of
    :data:`SUMMARY_COLUMNS`; a name outside them is a bug and raises ``KeyError``)."""
    unknown = sorted(set(values) - set(SUMMARY_COLUMNS))
    if unknown:
        raise KeyError(f"not summary columns: {', '.join(unknown)}")
    return {"job_id": spec.job_id, "algorithm": spec.algorithm,
            "params": json.dumps(spec.encoded_params()), "seed": spec.seed,
            "dataset": spec.dataset, "started_at": started_at, **values}


def tagged_tables(spec, tables):
    """A job's long tables with its ``job_id`` (and ``algorithm``, but in ``predictions``) as
    their first columns."""
    tagged = {}
    for name, table in tables.items():
        keys = LONG_KEYS.get(name, DEFAULT_LONG_KEYS)
        table = table.assign(job_id=spec.job_id, algorithm=spec.algorithm)
        tagged[name] = table[keys + [column for column in table.columns if column not in
                                     ("job_id", "algorithm")]]
    return tagged
