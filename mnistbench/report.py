"""Human-readable views of results: the comparison table and the algorithm list."""

import json

from tabulate import tabulate

HEADERS = ["algorithm", "chosen", "accuracy", "precision", "recall", "F1", "fit s",
           "predict s", "p50 ms", "p99 ms"]


def summary_table(summary, tablefmt="github"):
    """One row per job: accuracy and macro P/R/F1 in percent, timings, latency; errors inline."""
    rows = []
    for record in summary.to_dict("records"):
        if record["status"] != "ok":
            rows.append([record["algorithm"], f"error: {record['error']}"] + [""] * 8)
            continue
        rows.append([
            record["algorithm"], format_params(json.loads(record["chosen"])),
            *(f"{100 * record[key]:.2f}" for key in
              ("accuracy", "precision_macro", "recall_macro", "f1_macro")),
            f"{record['fit_s']:.2f}", f"{record['predict_s']:.2f}",
            f"{record['latency_p50_ms']:.3f}", f"{record['latency_p99_ms']:.3f}",
        ])
    return tabulate(rows, headers=HEADERS, tablefmt=tablefmt, disable_numparse=True,
                    colalign=("left", "left") + ("right",) * 8)


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
