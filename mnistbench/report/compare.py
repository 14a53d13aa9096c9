"""What changed between two runs, configuration by configuration: accuracy with intervals, fit
and latency as ratios, and McNemar's test; two runs on different test images are refused."""

import pandas as pd
from tabulate import tabulate

from mnistbench.analysis.statistics import pairwise_mcnemar, with_intervals
from mnistbench.errors import ParameterError
from mnistbench.run.loading import load_run


def compare_runs(path_a, path_b):
    """Compare run B with run A.

    Returns
    -------
    table : str
        One row per configuration found in either run.
    worse : list of str
        The configurations significantly less accurate in B than in A.
    """
    runs = {"A": load_run(path_a), "B": load_run(path_b)}
    check_comparable(runs["A"], runs["B"])
    tables = {side: run.configurations.set_index("configuration")
              for side, run in runs.items()}
    common = [c for c in tables["A"].index if c in tables["B"].index]
    verdicts = {}
    if common:
        summary, predictions = [], []
        for side, run in runs.items():  # job ids repeat across runs: make them distinct
            jobs = with_intervals(run.summary)
            summary.append(jobs.assign(configuration=side + ": " + jobs["configuration"],
                                       job_id=side + "/" + jobs["job_id"]))
            predictions.append(run.predictions.assign(
                job_id=side + "/" + run.predictions["job_id"]))
        pairs, _ = pairwise_mcnemar(pd.concat(summary), pd.concat(predictions),
                                    pairs=[(f"A: {c}", f"B: {c}") for c in common])
        for pair in pairs.to_dict("records"):
            change = "no significant change"
            if pair["significant"]:
                change = "better" if pair["better"].startswith("B: ") else "worse"
            verdicts[pair["a"][3:]] = (f"{pair['p_adjusted']:.3g}", change)
    rows, worse = [], []
    for configuration in list(tables["A"].index) + [c for c in tables["B"].index
                                                    if c not in tables["A"].index]:
        a, b = (tables[side].loc[configuration] if configuration in tables[side].index else None
                for side in "AB")
        if a is None or b is None:
            rows.append([configuration, accuracy(a), accuracy(b), "", "", "", "",
                         "only in B" if a is None else "only in A"])
            continue
        p_value, change = verdicts.get(configuration, ("", "not tested"))
        if change == "worse":
            worse.append(configuration)
        rows.append([configuration, accuracy(a), accuracy(b),
                     f"{100 * (b['accuracy'] - a['accuracy']):+.2f}",
                     ratio(b["fit_s"], a["fit_s"]),
                     ratio(b["latency_p50_ms"], a["latency_p50_ms"]), p_value, change])
    headers = ["configuration", "accuracy % A (95% interval)", "accuracy % B (95% interval)",
               "change (points)", "fit time B/A", "p50 latency B/A", "p (Holm)", "verdict"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), worse


def check_comparable(a, b):
    """Refuse two runs scored on different test images (another dataset, other files): their
    accuracies differ by more than the classifiers, and no test could say which is better."""
    if a.info["dataset"] != b.info["dataset"]:
        raise ParameterError(f"{a.directory} is a {a.info['dataset']} run and {b.directory} a "
                             f"{b.info['dataset']} run; compare runs on the same dataset")
    if a.info["dataset_checksum"] != b.info["dataset_checksum"]:
        raise ParameterError(f"{a.directory} and {b.directory} used different {a.info['dataset']}"
                             f" files (checksums {a.info['dataset_checksum']} and "
                             f"{b.info['dataset_checksum']}), so their test images differ; "
                             "compare runs on the same files")


def accuracy(row):
    if row is None or row["accuracy"] != row["accuracy"]:  # absent, or every job failed
        return "—" if row is None else "failed"
    return f"{100 * row['accuracy']:.2f} ({100 * row['accuracy_low']:.2f}–" \
           f"{100 * row['accuracy_high']:.2f})"


def ratio(new, old):
    return f"{new / old:.2f}x" if old and old == old and new == new else ""
