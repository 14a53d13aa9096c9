"""Metrics computed from raw per-image outputs: one place, so every adapter is scored alike."""

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def classification_metrics(y_true, y_pred, labels):
    """Accuracy, macro P/R/F1, per-class table and confusion matrix of one set of predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (N,)
    labels : sequence
        Every class, in the order rows and columns are reported (absent classes included).

    Returns
    -------
    summary : dict
        ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro``.
    per_class : pandas.DataFrame
        One row per class: ``label``, ``precision``, ``recall``, ``f1``, ``support``.
    confusion : pandas.DataFrame
        Long format, one row per (``true``, ``predicted``) pair with its ``count``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    summary = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
    }
    per_class = pd.DataFrame({"label": labels, "precision": precision, "recall": recall,
                              "f1": f1, "support": support})
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    true, predicted = np.meshgrid(labels, labels, indexing="ij")
    confusion = pd.DataFrame({"true": true.ravel(), "predicted": predicted.ravel(),
                              "count": matrix.ravel()})
    return summary, per_class, confusion


def latency_percentiles(seconds):
    """p50/p95/p99 of per-call latencies, in milliseconds."""
    p50, p95, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 95, 99])
    return {"latency_p50_ms": float(p50), "latency_p95_ms": float(p95),
            "latency_p99_ms": float(p99)}


def condition_tables(outputs, labels):
    """Metrics of a job's per-image outputs under each evaluation condition.

    Parameters
    ----------
    outputs : dict
        ``{condition: (y_true, y_pred, probabilities)}``; ``probabilities`` is N x classes.
    labels : sequence
        Every class, in report order.

    Returns
    -------
    summaries : dict
        ``{condition: {accuracy, precision_macro, recall_macro, f1_macro, mean_confidence}}``.
    tables : dict of pandas.DataFrame
        ``per_class``, ``confusion`` and ``predictions`` (``condition``, ``index``, ``true``,
        ``predicted``, ``confidence``), each with a ``condition`` column first.
    """
    summaries, parts = {}, {"per_class": [], "confusion": [], "predictions": []}
    for condition, (y_true, y_pred, probabilities) in outputs.items():
        confidence = np.asarray(probabilities).max(axis=1)
        summary, per_class, confusion = classification_metrics(y_true, y_pred, labels)
        summaries[condition] = {**summary, "mean_confidence": float(confidence.mean())}
        predictions = pd.DataFrame({"index": np.arange(len(y_true)), "true": y_true,
                                    "predicted": y_pred, "confidence": confidence})
        for name, table in (("per_class", per_class), ("confusion", confusion),
                            ("predictions", predictions)):
            parts[name].append(table.assign(condition=condition)[["condition", *table.columns]])
    return summaries, {name: pd.concat(tables, ignore_index=True)
                       for name, tables in parts.items()}
