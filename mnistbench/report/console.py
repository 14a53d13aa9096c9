"""Human-readable views of results: the comparison tables and the algorithm and transform lists."""

import json

from tabulate import tabulate

from mnistbench.run.spec import decode_value

METRICS = ["accuracy", "95% interval", "precision", "recall", "F1", "fit s", "predict s",
           "p50 ms", "p99 ms"]
SEEDED = ["seeds", "accuracy", "macro F1", "fit s", "p50 ms"]


def summary_table(summary, tablefmt="github"):
    """The run's table. One row per job (accuracy with its 95% Wilson interval, macro P/R/F1,
    timings, latency; errors inline), with a ``params`` column when jobs were given some; when a
    configuration ran with several seeds, one row per configuration instead, each number the
    mean ± the half-width of its 95% interval over seeds. Below it, a note when jobs ran
    concurrently (:func:`concurrency_note`)."""
    table = seeded_table(summary, tablefmt) if summary["seed"].nunique() > 1 \
        else job_table(summary, tablefmt)
    note = concurrency_note(summary)
    return f"{table}\n\n{note}" if note else table


def concurrency_note(summary):
    """A sentence saying that the timings came from jobs that ran at the same time, when some
    did (``concurrent_jobs`` above 1); else an empty string."""
    if "concurrent_jobs" not in summary:
        return ""
    shared = summary[summary["concurrent_jobs"] > 1]
    if shared.empty:
        return ""
    threads = shared["threads"].dropna()
    each = f", {int(threads.min())} thread(s) each" if len(threads) else ""
    return (f"note: {len(shared)} of {len(summary)} jobs ran up to "
            f"{int(shared['concurrent_jobs'].max())} at a time "
            f"({', '.join(sorted(shared['backend'].dropna().unique()))}{each}); their fit and "
            "predict times are not comparable with a serial run's")


def job_table(summary, tablefmt):
    """One row per job (see :func:`summary_table`)."""
    from mnistbench.analysis.statistics import with_intervals  # SciPy: not for --list

    summary = with_intervals(summary)
    records = summary.to_dict("records")
    given = [{name: decode_value(text) for name, text in json.loads(record["params"]).items()}
             for record in records]
    with_params = any(given)
    headers = ["algorithm"] + ["params"] * with_params + ["chosen"]
    rows = []
    for record, params in zip(records, given):
        row = [record["algorithm"]] + [format_params(params)] * with_params
        if record["status"] != "ok":
            rows.append(row + [f"{record['status']}: {record['error']}"] + [""] * len(METRICS))
            continue
        rows.append(row + [
            format_params(json.loads(record["chosen"])), f"{100 * record['accuracy']:.2f}",
            f"{100 * record['accuracy_low']:.2f}–{100 * record['accuracy_high']:.2f}",
            *(f"{100 * record[key]:.2f}" for key in
              ("precision_macro", "recall_macro", "f1_macro")),
            f"{record['fit_s']:.2f}", f"{record['predict_s']:.2f}",
            f"{record['latency_p50_ms']:.3f}", f"{record['latency_p99_ms']:.3f}",
        ])
    return tabulate(rows, headers=headers + METRICS, tablefmt=tablefmt, disable_numparse=True,
                    colalign=("left",) * len(headers) + ("right",) * len(METRICS))


def seeded_table(summary, tablefmt):
    """One row per configuration, sorted by accuracy: mean ± 95% half-width over seeds."""
    from mnistbench.analysis.statistics import aggregate

    rows = []
    for row in aggregate(summary).to_dict("records"):
        seeds = f"{row['seeds']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        if row["failed"] == row["seeds"]:
            rows.append([row["configuration"], seeds, f"error: {row['error']}", "", "", ""])
            continue
        rows.append([row["configuration"], seeds] + [
            plus_minus(row, column, scale, digits) for column, scale, digits in (
                ("accuracy", 100, 2), ("f1_macro", 100, 2), ("fit_s", 1, 2),
                ("latency_p50_ms", 1, 3))])
    return tabulate(rows, headers=["configuration"] + SEEDED, tablefmt=tablefmt,
                    disable_numparse=True, colalign=("left",) * 2 + ("right",) * 4)


def plus_minus(row, column, scale, digits):
    """``mean ± half-width`` (the mean alone for a single seed)."""
    text = f"{scale * row[column]:.{digits}f}"
    half = row[f"{column}_half"]
    return text if half != half else f"{text} ± {scale * half:.{digits}f}"


def format_params(params):
    """``{"k": 3, "depth": 40}`` as ``k=3 depth=40``."""
    return " ".join(f"{key}={value}" for key, value in params.items())


def algorithm_list(classes):
    """Each algorithm's name, one-line description and parameters with their defaults; a
    plugin given as its ``"module:Class"`` is listed as that, not imported."""
    blocks = []
    for name, cls in classes.items():
        if isinstance(cls, str):
            blocks.append(f"{name:<12}plugin {cls} (imported when used)")
            continue
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        defaults = cls().get_params()
        lines = [f"{name:<12}{summary}", f"{'':<12}{format_params(defaults) or '(no parameters)'}"]
        for preset, settings in getattr(cls, "PRESETS", {}).items():
            mark = " (default)" if preset == defaults.get("preset") else ""
            lines.append(f"{'':<12}preset={preset}{mark}: {settings['description']}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def shift_summary(run_dir, tablefmt="github"):
    """Accuracy (%) of each configuration under each condition, mean over seeds, when the run
    evaluated any condition besides the clean test set; else an empty string."""
    from mnistbench.analysis.shifts import shift_matrix
    from mnistbench.run.loading import load_run

    run = load_run(run_dir)
    matrix = shift_matrix(run.summary, run.shifts)
    if matrix.shape[1] < 2:
        return ""
    return tabulate((100 * matrix).round(2).reset_index(), headers="keys", tablefmt=tablefmt,
                    showindex=False, floatfmt=".2f")


def transform_list():
    """The image transforms: their names (for ``--shifts`` and ``augment=``) and what each
    does."""
    from mnistbench.datasets.transforms import TRANSFORMS

    lines = ["transforms (--shifts NAME,... and --set ALGO.augment=NAME,...; 'all' is every "
             "one; mixed-NAME is the clean test set plus its shifted copy):"]
    lines += [f"  {name:<12}{transform.description}" for name, transform in TRANSFORMS.items()]
    return "\n".join(lines)


def ensemble_table(table, tablefmt="github"):
    """``mnistbench ensemble``'s result: per vote and condition, the ensemble's accuracy against
    its best member's, with McNemar's test."""
    rows = [[row["voting"], row["condition"], row["members"], f"{100 * row['accuracy']:.2f}",
             row["best_member"], f"{100 * row['best_accuracy']:.2f}",
             f"{row['ensemble_only']} / {row['member_only']}", f"{row['p_value']:.3g}",
             row["job_id"]] for row in table.to_dict("records")]
    return tabulate(rows, headers=["vote", "condition", "members", "accuracy %", "best member",
                                   "its accuracy %", "only ensemble / only member right",
                                   "McNemar p", "ensemble job"],
                    tablefmt=tablefmt, disable_numparse=True)
