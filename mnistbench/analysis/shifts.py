"""Per-condition tables of one job: accuracy under each shift, and selective prediction.

Both are computed where a job's outputs are (the runner) and kept in long format, one row per
condition, so the run's ``shifts.csv`` and ``selective.csv`` are their concatenation.
"""

import numpy as np
import pandas as pd

from mnistbench.analysis.selective import (answered_metrics, choose_threshold, confidence_scores,
                                           selective_summary)
from mnistbench.analysis.statistics import configuration, wilson_interval
from mnistbench.run.schema import CLEAN, HOLDOUT


def shift_table(summaries, sizes):
    """One row per evaluated condition but the holdout: ``condition``, ``n``, ``accuracy``,
    its 95% Wilson interval (``ci_low``, ``ci_high``), ``f1_macro``, ``mean_confidence`` and
    ``drop`` (clean accuracy minus this one, in accuracy units).

    Parameters
    ----------
    summaries : dict
        ``{condition: {accuracy, f1_macro, mean_confidence, ...}}`` as
        :func:`~mnistbench.analysis.metrics.condition_tables` returns them.
    sizes : dict
        ``{condition: number of images}``.
    """
    clean = summaries[CLEAN]["accuracy"]
    rows = []
    for condition, summary in summaries.items():
        if condition == HOLDOUT:
            continue
        n = sizes[condition]
        low, high = wilson_interval(round(summary["accuracy"] * n), n)
        rows.append({"condition": condition, "n": n, "accuracy": summary["accuracy"],
                     "ci_low": low, "ci_high": high, "f1_macro": summary["f1_macro"],
                     "mean_confidence": summary["mean_confidence"],
                     "drop": clean - summary["accuracy"]})
    return pd.DataFrame(rows)


def selective_table(outputs, target_accuracy=None):
    """One row per condition of :func:`~mnistbench.analysis.selective.selective_summary`'s
    metrics; with ``target_accuracy``, also the threshold chosen on the ``holdout`` condition
    for it (``threshold``) and the ``coverage`` and ``selective_accuracy`` that threshold gives
    under each condition.

    Parameters
    ----------
    outputs : dict
        ``{condition: (y_true, y_pred, probabilities)}``.
    target_accuracy : float, optional
        Needs a ``holdout`` condition: the threshold is never chosen on a test set.
    """
    scored = {condition: (confidence_scores(probabilities),
                          np.asarray(y_true) == np.asarray(y_pred))
              for condition, (y_true, y_pred, probabilities) in outputs.items()}
    threshold = None if target_accuracy is None else choose_threshold(*scored[HOLDOUT],
                                                                      target_accuracy)
    rows = []
    for condition, (y_true, y_pred, probabilities) in outputs.items():
        row = {"condition": condition, "accuracy": float(scored[condition][1].mean()),
               **selective_summary(probabilities, y_true, y_pred)}
        if threshold is not None:
            coverage, accuracy = answered_metrics(*scored[condition], threshold)
            row.update(target_accuracy=target_accuracy, threshold=threshold, coverage=coverage,
                       selective_accuracy=accuracy)
        rows.append(row)
    return pd.DataFrame(rows)


def shift_matrix(summary, shifts, column="accuracy"):
    """Configurations x conditions: the mean of ``column`` over each configuration's seeds,
    rows in the order of clean accuracy (best first), columns in the run's order.

    Parameters
    ----------
    summary : pandas.DataFrame
        The run's ``summary.csv``.
    shifts : pandas.DataFrame
        The run's ``shifts.csv``.
    """
    if shifts.empty:
        return pd.DataFrame()
    labels = {record["job_id"]: configuration(record)
              for record in summary.to_dict("records")}
    table = shifts.assign(configuration=shifts["job_id"].map(labels))
    matrix = table.pivot_table(index="configuration", columns="condition", values=column,
                               aggfunc="mean", sort=False)
    matrix = matrix[list(dict.fromkeys(table["condition"]))]
    return matrix.sort_values(CLEAN, ascending=False, kind="stable")
