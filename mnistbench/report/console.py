"""Human-readable views of results: the comparison table and the algorithm list."""

import json

from tabulate import tabulate

from mnistbench.run.spec import decode_value

METRICS = ["accuracy", "precision", "recall", "F1", "fit s", "predict s", "p50 ms", "p99 ms"]


def summary_table(summary, tablefmt="github"):
    """One row per job: accuracy and macro P/R/F1 in percent, timings, latency; errors inline.

    A ``seed`` column appears when the jobs have several seeds, a ``params`` column (the
    ``--set``/``--grid`` values) when any job has some.
    """
    records = summary.to_dict("records")
    given = [{name: decode_value(text) for name, text in json.loads(record["params"]).items()}
             for record in records]
    with_seed = summary["seed"].nunique() > 1
    with_params = any(given)
    headers = ["algorithm"] + ["seed"] * with_seed + ["params"] * with_params + ["chosen"]
    rows = []
    for record, params in zip(records, given):
        row = [record["algorithm"]] + [str(record["seed"])] * with_seed + [
            format_params(params)] * with_params
        if record["status"] != "ok":
            rows.append(row + [f"error: {record['error']}"] + [""] * len(METRICS))
            continue
        rows.append(row + [
            format_params(json.loads(record["chosen"])),
            *(f"{100 * record[key]:.2f}" for key in
              ("accuracy", "precision_macro", "recall_macro", "f1_macro")),
            f"{record['fit_s']:.2f}", f"{record['predict_s']:.2f}",
            f"{record['latency_p50_ms']:.3f}", f"{record['latency_p99_ms']:.3f}",
        ])
    return tabulate(rows, headers=headers + METRICS, tablefmt=tablefmt, disable_numparse=True,
                    colalign=("left",) * len(headers) + ("right",) * len(METRICS))


def format_params(params):
    """``{"k": 3, "depth": 40}`` as ``k=3 depth=40``."""
    return " ".join(f"{key}={value}" for key, value in params.items())


def algorithm_list(classes):
    """Each algorithm's name, one-line description and parameters with their defaults."""
    blocks = []
    for name, cls in classes.items():
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        defaults = cls().get_params()
        lines = [f"{name:<12}{summary}", f"{'':<12}{format_params(defaults) or '(no parameters)'}"]
        for preset, settings in getattr(cls, "PRESETS", {}).items():
            mark = " (default)" if preset == defaults.get("preset") else ""
            lines.append(f"{'':<12}preset={preset}{mark}: {settings['description']}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
