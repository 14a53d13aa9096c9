"""Uncertainty and significance: intervals for accuracies, summaries over seeds, McNemar tests.

- An accuracy measured on ``n`` test images gets the 95% **Wilson score** interval of a
  binomial proportion (SciPy's ``binomtest(...).proportion_ci(method="wilson")``).
- A configuration run with several seeds gets the mean, the standard deviation and the 95%
  Student-t interval of the mean over seeds, for accuracy, fit time and p50 latency.
- Two configurations evaluated on the same images are compared by the **exact McNemar test**
  (a two-sided binomial test on the images exactly one of them got right, as Dietterich 1998
  recommends for one test set). The p-values of all pairs are adjusted by **Holm**'s method, for
  each seed; with several seeds the verdict is combined as an intersection-union test: a pair
  differs significantly only if it does for every seed, in the same direction, and the
  combined p-values are the largest of the seeds'.
"""

import itertools
import json

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05


def wilson_interval(correct, n, confidence=CONFIDENCE):
    """The Wilson score interval ``(low, high)`` of ``correct`` successes in ``n`` trials."""
    if n == 0:
        return float("nan"), float("nan")
    interval = stats.binomtest(int(correct), int(n)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def seed_interval(values, confidence=CONFIDENCE):
    """``(mean, sd, half_width)`` of ``values`` over seeds; the half-width of the Student-t
    interval of the mean (NaN with fewer than two values)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    sd = float(values.std(ddof=1))
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * sd / np.sqrt(len(values))
    return mean, sd, float(half)


def mcnemar_exact(a_correct, b_correct):
    """The exact McNemar test of two classifiers' per-image correctness on the same images.

    Returns
    -------
    dict
        ``a_only`` (images only ``a`` got right), ``b_only``, and the two-sided ``p_value``
        (1 when they never disagree).
    """
    a_correct, b_correct = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    if a_correct.shape != b_correct.shape:
        raise ValueError("McNemar's test needs both classifiers' answers on the same images")
    a_only = int(np.sum(a_correct & ~b_correct))
    b_only = int(np.sum(~a_correct & b_correct))
    n = a_only + b_only
    p_value = 1.0 if n == 0 else float(stats.binomtest(min(a_only, b_only), n, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p_value": p_value}


def holm(p_values):
    """Holm's step-down adjustment of ``p_values`` (family-wise error rate)."""
    p_values = np.asarray(p_values, dtype=float)
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p_values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def configuration(record):
    """A job's configuration label: the algorithm, with the parameters it was given."""
    params = json.loads(record["params"]) if isinstance(record["params"], str) else {}
    return " ".join([record["algorithm"], *(f"{name}={value}" for name, value in params.items())])


def with_intervals(summary):
    """``summary`` with ``configuration`` and the Wilson interval of each job's accuracy
    (``accuracy_low``, ``accuracy_high``; NaN for failed jobs)."""
    summary = summary.assign(configuration=[configuration(r) for r in summary.to_dict("records")])
    intervals = [wilson_interval(round(r["accuracy"] * r["n_test"]), r["n_test"])
                 if r["status"] == "ok" else (np.nan, np.nan) for r in summary.to_dict("records")]
    return summary.assign(accuracy_low=[low for low, _ in intervals],
                          accuracy_high=[high for _, high in intervals])


def aggregate(summary):
    """One row per configuration over its seeds: the number of jobs (and failed ones), and the
    mean, standard deviation and 95% half-width over seeds of accuracy, macro F1, fit time and
    p50 latency, plus the Wilson interval of the mean accuracy on the test-set size. Sorted by
    mean accuracy, best first."""
    summary = with_intervals(summary)
    rows = []
    for label, jobs in summary.groupby("configuration", sort=False):
        ok = jobs[jobs["status"] == "ok"]
        row = {"configuration": label, "algorithm": jobs["algorithm"].iloc[0],
               "seeds": len(jobs), "failed": len(jobs) - len(ok),
               "error": None if len(ok) else jobs["error"].iloc[0]}
        for column in ("accuracy", "f1_macro", "fit_s", "latency_p50_ms"):
            row[column], row[f"{column}_sd"], row[f"{column}_half"] = seed_interval(ok[column])
        if len(ok):
            n = ok["n_test"].iloc[0]
            row["accuracy_low"], row["accuracy_high"] = wilson_interval(
                round(row["accuracy"] * n), n)
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("accuracy", ascending=False, na_position="last",
                             ignore_index=True, kind="stable")


def pairwise_mcnemar(summary, predictions, condition="test", pairs=None):
    """McNemar tests between every pair of configurations (or the ``pairs`` of configuration
    labels given), on the images of ``condition``.

    Jobs are matched by seed (the seeds both configurations ran; if they share none, the i-th
    seed of each); p-values are Holm-adjusted over the pairs for each seed, and combined over
    seeds as described in this module's docstring.

    Returns
    -------
    pairs : pandas.DataFrame
        One row per pair: ``a``, ``b``, ``seeds``, ``a_only`` and ``b_only`` (discordant images,
        summed over seeds), ``p_value``, ``p_adjusted``, ``better`` (the configuration that got
        more images right in every seed, else empty), ``significant``.
    by_seed : pandas.DataFrame
        One row per pair and matched seed, with the same columns per seed.
    """
    columns = ["a", "b", "seeds", "a_only", "b_only", "p_value", "p_adjusted", "better",
               "significant"]
    if predictions.empty:  # no job finished
        return pd.DataFrame(columns=columns), pd.DataFrame()
    if "configuration" not in summary:
        summary = with_intervals(summary)
    ok = summary[summary["status"] == "ok"]
    rows = predictions[predictions["condition"] == condition]
    correct = {job_id: (group.sort_values("index")["true"].to_numpy()
                        == group.sort_values("index")["predicted"].to_numpy())
               for job_id, group in rows.groupby("job_id")}
    seeds = {label: dict(zip(jobs["seed"], jobs["job_id"]))
             for label, jobs in ok.groupby("configuration", sort=False)}
    by_seed = []
    pairs = itertools.combinations(seeds, 2) if pairs is None else [
        (a, b) for a, b in pairs if a in seeds and b in seeds]
    for a, b in pairs:
        common = sorted(set(seeds[a]) & set(seeds[b]))
        matched = [(s, s) for s in common] or list(zip(sorted(seeds[a]), sorted(seeds[b])))
        for index, (seed_a, seed_b) in enumerate(matched):
            job_a, job_b = seeds[a][seed_a], seeds[b][seed_b]
            if job_a not in correct or job_b not in correct \
                    or len(correct[job_a]) != len(correct[job_b]):
                continue
            test = mcnemar_exact(correct[job_a], correct[job_b])
            by_seed.append({"a": a, "b": b, "match": index, "seed_a": seed_a, "seed_b": seed_b,
                            "images": len(correct[job_a]), **test})
    if not by_seed:
        return pd.DataFrame(columns=columns), pd.DataFrame()
    by_seed = pd.DataFrame(by_seed)
    by_seed["p_adjusted"] = by_seed.groupby("match")["p_value"].transform(holm)
    by_seed["better"] = np.select([by_seed["a_only"] > by_seed["b_only"],
                                   by_seed["a_only"] < by_seed["b_only"]],
                                  [by_seed["a"], by_seed["b"]], "")
    by_seed["significant"] = (by_seed["p_adjusted"] < ALPHA) & (by_seed["better"] != "")
    pairs = []
    for (a, b), tests in by_seed.groupby(["a", "b"], sort=False):
        winners = set(tests["better"])
        better = winners.pop() if len(winners) == 1 else ""
        pairs.append({"a": a, "b": b, "seeds": len(tests), "a_only": tests["a_only"].sum(),
                      "b_only": tests["b_only"].sum(), "p_value": tests["p_value"].max(),
                      "p_adjusted": tests["p_adjusted"].max(), "better": better,
                      "significant": bool(tests["significant"].all() and better)})
    return pd.DataFrame(pairs, columns=columns), by_seed
