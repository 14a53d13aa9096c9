"""A run's report, built from its folder alone: ``report.html`` (one self-contained file, images
embedded), and ``report.md`` with the same content and ``figures/*.png`` beside it. It only
reads: the tables it shows are the run's, with those derived from them (``configurations``,
``pairs``, ``pairs_by_seed``: :mod:`mnistbench.analysis.tables`) as :func:`~mnistbench.run.
loading.load_run` gives them.

The test images themselves are not part of a run: the image plots load the run's dataset by
name and use it only if its checksum is the one the run recorded.
"""

import base64
import html
import re
from pathlib import Path

import numpy as np
from tabulate import tabulate

from mnistbench.analysis.selective import TARGETS, operating_points
from mnistbench.analysis.shifts import shift_matrix
from mnistbench.analysis.statistics import ALPHA, with_intervals
from mnistbench.analysis.tables import MAX_PAIRED
from mnistbench.datasets import load_dataset, mnist_c
from mnistbench.datasets.transforms import TRANSFORMS, apply_transform
from mnistbench.errors import MnistbenchError
from mnistbench.report import plots
from mnistbench.run.conditions import MIXED, SHIFT_SEED
from mnistbench.run.loading import load_run
from mnistbench.run.schema import CLEAN, HOLDOUT
from mnistbench.run.store import write_atomic

FIGURES = "figures"
HARD_EXAMPLES = 4
SHIFT_EXAMPLES = 4
STYLE = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{padding:3px 9px;
border-bottom:1px solid #ddd;text-align:left}td.number{text-align:right}
img{max-width:100%;display:block;margin:1em 0}.note{color:#555;font-size:14px}
.failed{color:#c62828}"""


class Report:
    """Sections in order, rendered as Markdown and as HTML at once."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.markdown, self.html = [], []
        (self.directory / FIGURES).mkdir(exist_ok=True)

    def heading(self, text, level=2):
        self.markdown.append(f"{'#' * level} {text}\n")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text, note=False):
        self.markdown.append(f"{text}\n")
        css = ' class="note"' if note else ""
        self.html.append(f"<p{css}>{html.escape(text)}</p>")

    def table(self, headers, rows):
        self.markdown.append(tabulate(rows, headers=headers, tablefmt="github",
                                      disable_numparse=True) + "\n")
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
        body = "".join("<tr>" + "".join(
            f"<td class={cell_class(str(cell))}>{html.escape(str(cell))}</td>" for cell in row)
            + "</tr>" for row in rows)
        self.html.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, figure, name, alt):
        png = plots.save(figure, self.directory / FIGURES / f"{name}.png")
        self.markdown.append(f"![{alt}]({FIGURES}/{name}.png)\n")
        encoded = base64.b64encode(png).decode()
        self.html.append(f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">')

    def write(self, title):
        write_atomic(self.directory / "report.md", "\n".join(self.markdown))
        page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>"
                f"{html.escape(title)}</title><style>{STYLE}</style></head><body>"
                + "\n".join(self.html) + "</body></html>\n")
        write_atomic(self.directory / "report.html", page)
        return self.directory / "report.html"


def cell_class(text):
    """``failed``, ``number`` (right-aligned) or ``text``."""
    if text.startswith("failed"):
        return "failed"
    return "number" if re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?( ± [\d.]+|–[\d.]+|x)?", text) \
        else "text"


def write_report(run_dir):
    """Write the report of the run in ``run_dir``; return the path of ``report.html``."""
    run = load_run(run_dir)
    summary = with_intervals(run.summary)
    table, pairs = run.configurations, run.pairs
    data, missing = run_dataset(run)
    class_names = data.class_names if data else [str(c) for c in range(10)]
    picked = representatives(summary)
    title = f"mnistbench run: {run.info['dataset']}, {run.directory.name}"
    report = Report(run.directory)
    report.heading(title, 1)
    report.text(f"{run.state}. Dataset {run.info['dataset']} (checksum "
                f"{run.info['dataset_checksum']}); command: {' '.join(run.info['command'])}; "
                f"{run.info['cpu']} ({run.info['cpu_count']} cores), git "
                f"{run.info['git_revision']}; started {run.info['attempts'][0]['started_at']}.")
    summary_section(report, table)
    pairs_section(report, pairs, len(table))
    if data is None:
        report.text(f"Sample images, mistakes and hard examples are left out: {missing}.",
                    note=True)
    else:
        report.heading("Sample images")
        report.figure(plots.sample_grid(data.X_test, data.y_test, class_names), "samples",
                      "a grid of sample test images, one row per class")
    ok = table[table["accuracy"].notna()]
    if len(ok):
        report.heading("Accuracy against speed")
        report.figure(plots.trade_offs(ok), "trade-offs",
                      "accuracy against latency and fit time")
        per_class = run.per_class[run.per_class["condition"] == CLEAN].merge(
            summary[["job_id", "configuration"]], on="job_id")
        report.heading("Per-class F1")
        report.figure(plots.per_class_f1(
            per_class.groupby(["configuration", "label"], sort=False, as_index=False)["f1"].mean(),
            class_names), "per-class-f1", "per-class F1 of every configuration")
    shifts_section(report, run, summary, data)
    selective_section(report, run, summary, picked)
    confusion_section(report, run, picked, class_names)
    if data is not None:
        mistakes_section(report, run, picked, data, class_names)
        hard_section(report, run, picked, data, class_names)
    sweep_section(report, run, picked)
    training_section(report, run, summary)
    jobs_section(report, summary)
    return report.write(title)


def run_dataset(run):
    """The run's dataset, if it can be loaded with the recorded checksum: ``(data, None)`` or
    ``(None, reason)``."""
    try:
        data = load_dataset(run.info["dataset"], run.info["request"].get("data_dir"))
    except MnistbenchError as exc:
        return None, str(exc)
    if data.checksum != run.info["dataset_checksum"]:
        return None, (f"the {run.info['dataset']} data found ({data.checksum}) is not the data "
                      f"the run used ({run.info['dataset_checksum']})")
    return data, None


def representatives(summary):
    """``{configuration: job_id}``: the finished job with the lowest seed of each, for the
    plots that show one job."""
    first = summary[summary["status"] == "ok"].sort_values("seed", kind="stable").drop_duplicates(
        "configuration")
    return dict(zip(first["configuration"], first["job_id"]))


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def summary_section(report, table):
    report.heading("Summary")
    several = (table["seeds"] > 1).any()
    rows = []
    for row in table.to_dict("records"):
        if row["failed"] == row["seeds"]:
            rows.append([row["configuration"], row["seeds"], f"failed: {row['error']}"]
                        + [""] * 4)
            continue
        accuracy = f"{100 * row['accuracy']:.2f}"
        if row["seeds"] > 1:
            accuracy += f" ± {100 * row['accuracy_half']:.2f}"
        rows.append([
            row["configuration"], f"{row['seeds']}" + (f" ({row['failed']} failed)"
                                                       if row["failed"] else ""),
            accuracy, f"{100 * row['accuracy_low']:.2f}–{100 * row['accuracy_high']:.2f}",
            f"{100 * row['f1_macro']:.2f}", with_half(row, "fit_s", 2),
            with_half(row, "latency_p50_ms", 3)])
    report.table(["configuration", "seeds", "accuracy %", "95% interval (test set)",
                  "macro F1 %", "fit s", "p50 ms"], rows)
    report.text("Sorted by accuracy. The 95% interval (test set) is the Wilson score interval of "
                "the accuracy on this many test images"
                + ("; with several seeds, accuracy, fit time and latency are the mean ± the "
                   "half-width of the 95% Student-t interval over seeds." if several else "."),
                note=True)


def with_half(row, column, digits):
    text = f"{row[column]:.{digits}f}"
    return text + (f" ± {row[f'{column}_half']:.{digits}f}" if row["seeds"] > 1 else "")


def pairs_section(report, pairs, configurations):
    report.heading("Significance")
    if configurations > MAX_PAIRED:
        report.text(f"{configurations} configurations: too many to compare pair by pair.",
                    note=True)
        return
    if pairs.empty:
        report.text("Fewer than two configurations finished: nothing to compare.", note=True)
        return
    rows = [[p["a"], p["b"], p["seeds"], p["a_only"], p["b_only"], f"{p['p_value']:.3g}",
             f"{p['p_adjusted']:.3g}", p["better"] or "—", "yes" if p["significant"] else "no"]
            for p in pairs.to_dict("records")]
    report.table(["a", "b", "seeds", "only a right", "only b right", "p", "p (Holm)", "better",
                  f"significant at {ALPHA}"], rows)
    report.text("Exact McNemar test on the test images exactly one of the two got right, "
                "p-values adjusted for the number of pairs by Holm's method. With several seeds, "
                "each seed is tested on its own and a pair is significant only if it is for "
                "every seed, in the same direction (the largest p-values are shown; pairs.csv "
                "and pairs_by_seed.csv hold them all).", note=True)


def shifts_section(report, run, summary, data):
    matrix = shift_matrix(run.summary, run.shifts)
    if matrix.shape[1] < 2:
        return
    report.heading("Robustness: shifted test sets")
    if data is not None:
        examples = shift_examples(run, data)
        report.figure(plots.shift_examples(examples, min(SHIFT_EXAMPLES, len(data.X_test))),
                      "shift-examples", "the same test images under each condition")
    report.figure(plots.shift_heatmap(matrix), "shifts",
                  "heatmap of accuracy by configuration and condition")
    rows = [[condition, condition_description(condition)]
            + [f"{100 * matrix.loc[label, condition]:.2f}" for label in matrix.index]
            for condition in matrix.columns]
    report.table(["condition", "what it is"] + list(matrix.index), rows)
    report.text("Accuracy % (mean over seeds) of every fitted model, not refitted, on copies of "
                "the test set; every model saw the same shifted images (seeded once for the "
                "run). shifts.csv has each job's accuracy with its 95% Wilson interval, macro "
                "F1, mean confidence and the drop from the clean test set.", note=True)


def shift_examples(run, data):
    """``{condition: the first images of the test set under it}``; MNIST-C corruptions that
    cannot be read now, and the mixed sets (clean + shifted), are left out."""
    clean = data.X_test[:SHIFT_EXAMPLES]
    examples = {CLEAN: clean}
    for condition in dict.fromkeys(run.shifts["condition"]):
        if condition in TRANSFORMS:
            examples[condition] = apply_transform(condition, clean, SHIFT_SEED)
        elif condition.startswith(mnist_c.PREFIX + "/"):
            try:
                images, _ = mnist_c.load_corruption(condition.partition("/")[2],
                                                    run.info["request"].get("data_dir"))
            except MnistbenchError:
                continue
            examples[condition] = images[:SHIFT_EXAMPLES]
    return examples


def condition_description(condition):
    if condition == CLEAN:
        return "the clean test set"
    if condition in TRANSFORMS:
        return TRANSFORMS[condition].description
    if condition.startswith(MIXED):
        return f"the clean test set and its copy {condition.removeprefix(MIXED)}, together"
    return "MNIST-C, published corruption"


def selective_section(report, run, summary, picked):
    if run.selective.empty or not picked:
        return
    selective = run.selective.merge(summary[["job_id", "configuration"]], on="job_id")
    mean = selective.groupby(["configuration", "condition"], sort=False).mean(numeric_only=True)
    report.heading("Selective prediction: answering only when confident")
    conditions = list(dict.fromkeys(selective["condition"]))
    shown = [CLEAN] + [c for c in ("rot180", "mixed-rot180") if c in conditions][:1]
    if len(shown) == 1 and len(conditions) > 1:  # else the hardest shift
        shifted = mean.drop(index=[CLEAN, HOLDOUT], level="condition", errors="ignore")
        if not shifted.empty:
            shown.append(shifted["accuracy"].groupby(level="condition").mean().idxmin())
    curves, marks = {}, {}
    for condition in shown:
        curves[condition] = {}
        for label, job_id in picked.items():
            rows = run.predictions[(run.predictions["job_id"] == job_id)
                                   & (run.predictions["condition"] == condition)]
            if rows.empty:
                continue
            _, coverage, accuracy, _ = operating_points(rows["confidence"],
                                                        rows["true"] == rows["predicted"])
            curves[condition][label] = (coverage, accuracy)
            chosen = selective[(selective["job_id"] == job_id)
                               & (selective["condition"] == condition)]
            if "coverage" in chosen and chosen["coverage"].notna().all() and len(chosen):
                marks[condition, label] = (chosen["coverage"].iloc[0],
                                           chosen["selective_accuracy"].iloc[0])
    flat = plots.cannot_rank(curves)
    if all(set(flat[condition]) == set(lines) for condition, lines in curves.items()):
        report.text(f"Nothing to show for {', '.join(picked)}: each gives every image the same "
                    "confidence (its probabilities are 0 or 1), so a threshold answers all "
                    "images or none. A model with graded probabilities (a fixed larger k, "
                    "--set knn.k=10; a network) can refuse its least sure answers.")
        return
    report.figure(plots.risk_coverage(curves, marks), "risk-coverage",
                  "risk against coverage, one line per configuration")
    # a configuration that cannot rank has coverage 0 at every target: its row says nothing
    labels = [label for label in picked if label not in flat.get(CLEAN, ())]
    rows = [[label] + [f"{mean.loc[(label, CLEAN), column]:{spec}}" for column, spec in (
        ("aurc", ".4f"), ("e_aurc", ".4f"), ("aurc_margin", ".4f"))]
        + [f"{100 * mean.loc[(label, CLEAN), f'coverage_at_{target:g}']:.1f}"
           for target in TARGETS] for label in labels]
    report.table(["configuration", "AURC", "E-AURC", "AURC (margin)"]
                 + [f"coverage % at {100 * target:g}% accuracy" for target in TARGETS], rows)
    report.text("On the clean test set, mean over seeds. Confidence is the highest class "
                "probability (AURC (margin): the gap between the two highest). AURC is the area "
                "under the risk-coverage curve, E-AURC its excess over the best possible "
                "ordering of the same answers; coverage at an accuracy is the largest share of "
                "images answered with at least that accuracy, if the threshold were chosen on "
                "the test set itself (an upper bound: see below). selective.csv has every job "
                "and condition.", note=True)
    if "threshold" not in selective or selective["threshold"].isna().all():
        return
    target = selective["target_accuracy"].dropna().iloc[0]
    rows = [[condition] + [
        f"{100 * mean.loc[(label, condition), 'coverage']:.1f} / "
        + (f"{100 * accuracy:.2f}" if accuracy == accuracy else "—")
        for label in labels
        for accuracy in [mean.loc[(label, condition), "selective_accuracy"]]]
        for condition in conditions]
    report.table(["condition"] + [f"{label}: answered % / accuracy %" for label in labels], rows)
    report.text(f"With a threshold chosen on the holdout (the last 10% of the training set, "
                f"left out of every fit) for {100 * target:g}% accuracy on the answered images: "
                "the share of each test condition answered and the accuracy on it. The holdout "
                "row shows the choice itself; the others are what it actually gives.",
                note=True)


def confusion_section(report, run, picked, class_names):
    if not picked:
        return
    report.heading("Confusion matrices")
    confusion = run.confusion[run.confusion["condition"] == CLEAN]
    n = len(class_names)
    for label, job_id in picked.items():
        rows = confusion[confusion["job_id"] == job_id]
        matrix = np.zeros((n, n), int)
        matrix[rows["true"], rows["predicted"]] = rows["count"]
        report.figure(plots.confusion_heatmap(matrix, class_names, f"{label} ({job_id})"),
                      f"confusion-{slug(label)}", f"confusion matrix of {label}")


def mistakes_section(report, run, picked, data, class_names):
    if not picked:
        return
    report.heading("Most confident mistakes")
    predictions = run.predictions[run.predictions["condition"] == CLEAN]
    for label, job_id in picked.items():
        rows = predictions[predictions["job_id"] == job_id]
        report.figure(plots.confident_mistakes(data.X_test, rows, class_names,
                                               f"{label}: true → predicted (confidence)"),
                      f"mistakes-{slug(label)}", f"most confident mistakes of {label}")


def hard_section(report, run, picked, data, class_names):
    if not picked:
        return
    probabilities = {label: run.probabilities(job_id) for label, job_id in picked.items()}
    true = data.y_test
    truth = np.array([proba[np.arange(len(true)), true] for proba in probabilities.values()])
    right = np.array([proba.argmax(axis=1) == true for proba in probabilities.values()])
    # images on which the configurations disagree tell them apart; those every one gets wrong
    # (often badly written or mislabelled) come after
    disputed = right.any(axis=0) & ~right.all(axis=0)
    hardest = np.lexsort((truth.mean(axis=0), ~disputed))[:HARD_EXAMPLES]
    report.heading("Hard examples")
    report.figure(plots.hard_examples(data.X_test, hardest, true, probabilities, class_names),
                  "hard-examples", "class probabilities of every configuration on hard images")
    report.text(f"The {HARD_EXAMPLES} test images with the lowest probability of their true "
                "class, averaged over the configurations, among those some configurations get "
                "right and others wrong.", note=True)


def sweep_section(report, run, picked):
    jobs = [(label, job_id) for label, job_id in picked.items()
            if not run.sweep.empty and job_id in set(run.sweep["job_id"])]
    if not jobs:
        return
    report.heading("KNN: choosing k")
    sweeps = {label: tuple(run.sweep[run.sweep["job_id"] == job_id][["k", "val_accuracy"]].T
                           .values) for label, job_id in jobs}
    report.figure(plots.k_sweep(sweeps), "k-sweep", "holdout accuracy against k")


def training_section(report, run, summary):
    if run.history.empty:
        return
    configurations = dict(zip(summary["job_id"], summary["configuration"]))
    histories = {}
    for job_id, history in run.history.groupby("job_id", sort=False):
        histories.setdefault(configurations[job_id], []).append(history)
    report.heading("Training curves")
    report.figure(plots.training_curves(histories), "training",
                  "loss and accuracy per epoch of the neural configurations")


def jobs_section(report, summary):
    report.heading("Jobs")
    rows = []
    for row in summary.to_dict("records"):
        if row["status"] != "ok":
            rows.append([row["job_id"], row["configuration"], row["seed"],
                         f"failed: {row['error']}", "", "", ""])
            continue
        rows.append([row["job_id"], row["configuration"], row["seed"],
                     f"{100 * row['accuracy']:.2f} ({100 * row['accuracy_low']:.2f}–"
                     f"{100 * row['accuracy_high']:.2f})", f"{row['fit_s']:.2f}",
                     f"{row['predict_s']:.2f}", f"{row['latency_p50_ms']:.3f}"])
    report.table(["job", "configuration", "seed", "accuracy % (95% interval)", "fit s",
                  "predict s", "p50 ms"], rows)
