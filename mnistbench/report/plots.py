"""The report's plots, drawn with matplotlib's object API (no pyplot state, no display needed).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG.
"""

import io
import textwrap

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

MISTAKE = "#c62828"
RIGHT = "#2e7d32"
LABEL_POINTS = 9  # 12.5 px at the 100 dpi the figures are saved at
LONGEST_POINT_LABEL = 30  # characters a point's name may have beside it on a scatter plot
MOST_BAR_COLUMNS = 6  # configurations the hard examples show as columns of bars
LONGEST_COLUMN_TITLE = 24  # characters a line of a title over a column of bars 2 inches wide


def save(figure, path=None):
    """Write ``figure`` as PNG to ``path``; return the PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = buffer.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


def legend_columns(labels, width, fontsize, most):
    """Columns for a legend of ``labels`` that fits ``width`` inches at ``fontsize`` points
    (at most ``most``): long configuration names take fewer, instead of widening the figure."""
    longest = max((len(str(label)) for label in labels), default=1)
    per_column = longest * 0.55 * fontsize / 72 + 0.6  # characters, then the line sample
    return max(1, min(len(labels), most, int(width // per_column)))


def show_image(axes, image, title=None, color="black", fontsize=8):
    axes.imshow(image, cmap="gray_r", vmin=0, vmax=255)
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title, fontsize=fontsize, color=color)


def sample_grid(images, labels, class_names, per_class=10):
    """The first ``per_class`` images of each class, a row per class."""
    classes = range(len(class_names))
    figure = Figure(figsize=(per_class * 0.7, len(class_names) * 0.75), layout="constrained")
    axes = figure.subplots(len(class_names), per_class, squeeze=False)
    for row in classes:
        indices = np.flatnonzero(labels == row)[:per_class]
        for column in range(per_class):
            if column < len(indices):
                show_image(axes[row, column], images[indices[column]])
            else:
                axes[row, column].axis("off")
        axes[row, 0].set_ylabel(class_names[row], rotation=0, ha="right", va="center")
    figure.suptitle("Sample test images")
    return figure


def confusion_heatmap(matrix, class_names, title):
    """Counts, with the diagonal in grey and the mistakes in red, darker for more."""
    n = len(class_names)
    figure = Figure(figsize=(5.2, 4.6), layout="constrained")
    axes = figure.subplots()
    mistakes = np.where(np.eye(n, dtype=bool), np.nan, matrix.astype(float))
    axes.imshow(np.where(np.eye(n, dtype=bool), 1.0, np.nan), cmap="Greys", vmin=0, vmax=4)
    peak = np.nanmax(mistakes) if np.nanmax(mistakes) > 0 else 1
    axes.imshow(mistakes, cmap="Reds", vmin=0, vmax=peak)
    for true in range(n):
        for predicted in range(n):
            count = int(matrix[true, predicted])
            if count:
                dark = true != predicted and count > peak * 0.6
                axes.text(predicted, true, str(count), ha="center", va="center", fontsize=7,
                          color="white" if dark else "black")
    axes.set_xticks(range(n), class_names, fontsize=7, rotation=90 if n > 10 or len(
        max(class_names, key=len)) > 2 else 0)
    axes.set_yticks(range(n), class_names, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=10)
    return figure


def confidence_text(confidence):
    """A confidence in percent that never rounds a doubt up to certainty (99.7% is not 100%)."""
    if 0.995 <= confidence < 1:
        return f"{confidence:.1%}"
    return f"{confidence:.0%}"


def confident_mistakes(images, rows, class_names, title, count=10):
    """The misclassified images predicted with the highest confidence: true → predicted.

    Mistakes of equal confidence have no order among them: when the ones shown tie with others
    (every mistake of a 1-nearest-neighbour model or of a tree with pure leaves is at 100%), the
    figure says how many share that confidence and that those shown are the first in test-set
    order."""
    mistakes = rows[rows["true"] != rows["predicted"]]
    rows = mistakes.nlargest(count, "confidence", keep="first")
    columns = 5
    lines = max(1, -(-len(rows) // columns))
    figure = Figure(figsize=(columns * 1.4, lines * 1.6 + 0.3), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for axis, row in zip(axes, rows.to_dict("records")):
        show_image(axis, images[row["index"]], f"{class_names[row['true']]} → "
                   f"{class_names[row['predicted']]} ({confidence_text(row['confidence'])})",
                   MISTAKE, fontsize=LABEL_POINTS)
    for axis in axes[len(rows):]:
        axis.axis("off")
    figure.suptitle(title + tie_note(mistakes["confidence"], rows["confidence"]), fontsize=10)
    return figure


def tie_note(every, shown):
    """A second title line when the least confident mistake shown ties with mistakes left out,
    else nothing."""
    if shown.empty:
        return ""
    last = shown.min()
    tied, tied_shown = int((every == last).sum()), int((shown == last).sum())
    if tied == tied_shown:
        return ""
    if tied_shown == len(shown):
        return (f"\n{tied} mistakes share the confidence {confidence_text(last)}: no ranking "
                f"among them; the first {tied_shown} in test-set order")
    return (f"\n{tied} mistakes share the confidence {confidence_text(last)}; the last "
            f"{tied_shown} shown are the first of them in test-set order")


def k_sweep(sweeps):
    """Holdout accuracy against k, one line per job: ``sweeps`` maps a label to (k, accuracy)."""
    figure = Figure(figsize=(5, 3.2), layout="constrained")
    axes = figure.subplots()
    for label, (k, accuracy) in sweeps.items():
        axes.plot(k, np.asarray(accuracy) * 100, marker="o", label=label)
    axes.set_xlabel("k (neighbours)")
    axes.set_ylabel("holdout accuracy %")
    axes.set_title("KNN: holdout accuracy against k", fontsize=10)
    axes.grid(alpha=0.3)
    if len(sweeps) > 1:
        axes.legend(fontsize=8)
    return figure


def training_curves(histories):
    """Per configuration: loss and accuracy per epoch on the training data and the holdout
    (each seed a line), a star at the epoch whose weights were kept and, above, why training
    stopped; and test accuracy against seconds where it was recorded.

    ``histories`` maps a configuration to a list of per-seed history DataFrames."""
    with_test = any("monitor_accuracy" in h and h["monitor_accuracy"].notna().any()
                    for runs in histories.values() for h in runs)
    columns = 3 if with_test else 2
    figure = Figure(figsize=(4 * columns, 2.8 * len(histories)), layout="constrained")
    axes = figure.subplots(len(histories), columns, squeeze=False)
    for row, (label, runs) in enumerate(histories.items()):
        loss, accuracy = axes[row, 0], axes[row, 1]
        for seed, history in enumerate(runs):
            legend = seed == 0
            loss.plot(history["epoch"], history["loss"], color="C0", alpha=0.8,
                      label="training" if legend else None)
            loss.plot(history["epoch"], history["val_loss"], color="C1", alpha=0.8,
                      label="holdout" if legend else None)
            accuracy.plot(history["epoch"], history["accuracy"] * 100, color="C0", alpha=0.8,
                          label="training" if legend else None)
            accuracy.plot(history["epoch"], history["val_accuracy"] * 100, color="C1",
                          alpha=0.8, label="holdout" if legend else None)
            kept = history[history["kept"].astype(str) == "True"] if "kept" in history \
                else history[:0]  # histories from before kept weights were recorded
            loss.plot(kept["epoch"], kept["val_loss"], linestyle="none", marker="*",
                      markersize=9, color="C3", label="kept weights" if legend else None)
            accuracy.plot(kept["epoch"], kept["val_accuracy"] * 100, linestyle="none",
                          marker="*", markersize=9, color="C3")
            if with_test and "monitor_accuracy" in history:
                axes[row, 2].plot(history["seconds"], history["monitor_accuracy"] * 100,
                                  color="C2", marker=".")
        loss.set_ylabel(f"{label}\nloss")
        reasons = stop_reasons(runs)
        if reasons:
            accuracy.set_title(f"stopped: {reasons}", fontsize=8)
        accuracy.set_ylabel("accuracy %")
        for axis in axes[row]:
            axis.grid(alpha=0.3)
        loss.legend(fontsize=7)
        if with_test:
            axes[row, 2].set_ylabel("test accuracy %")
    for axis in axes[:, :2].ravel():
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in axes[-1, :2]:
        axis.set_xlabel("epoch")
    if with_test:
        axes[-1, 2].set_xlabel("seconds of training")
    figure.suptitle("Training curves (each line a seed)", fontsize=10)
    return figure


def stop_reasons(histories):
    """Why the runs of one configuration stopped, as ``"patience (2), epoch limit (1)"``;
    empty for histories from before the reason was recorded."""
    reasons = [str(h["stop_reason"].iloc[-1]) for h in histories
               if "stop_reason" in h and isinstance(h["stop_reason"].iloc[-1], str)]
    return ", ".join(f"{reason} ({reasons.count(reason)})" for reason in dict.fromkeys(reasons))


def pareto_front(times, accuracies):
    """Indices of the points no other point beats on both lower time and higher accuracy,
    ordered by time."""
    order = np.argsort(times, kind="stable")
    front, best = [], -np.inf
    for index in order:
        if accuracies[index] > best:
            front.append(index)
            best = accuracies[index]
    return front


def trade_offs(table):
    """Accuracy against p50 single-image latency and against fit time (log scale), with 95%
    bars, the Pareto front marked. ``table`` is :func:`~mnistbench.analysis.statistics.aggregate`
    output (failed configurations left out)."""
    table = table[table["accuracy"].notna()]
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    names = list(table["configuration"])
    # long names (a grid's parameters) would squeeze the axes to nothing: the points get
    # numbers, and a key under the plots names them
    keyed = max(map(len, names), default=0) > LONGEST_POINT_LABEL
    marks = [str(number) for number in range(1, len(names) + 1)] if keyed else names
    for axis, column, name in zip(figure.subplots(1, 2), ("latency_p50_ms", "fit_s"),
                                  ("single-image latency p50 (ms)", "fit time (s)")):
        x, y = table[column].to_numpy(), table["accuracy"].to_numpy() * 100
        seeds = table["seeds"].to_numpy() > 1
        low = np.where(seeds, table["accuracy_half"] * 100, y - table["accuracy_low"] * 100)
        high = np.where(seeds, table["accuracy_half"] * 100, table["accuracy_high"] * 100 - y)
        axis.errorbar(x, y, yerr=[low, high], xerr=np.nan_to_num(table[f"{column}_half"]),
                      fmt="o", capsize=3)
        front = pareto_front(x, y)
        # line and rings in one artist, so the legend's sample is what the plot shows: a ring
        # alone when one configuration beats every other on both axes
        axis.plot(x[front], y[front], linestyle="--" if len(front) > 1 else "none", marker="o",
                  color="grey", markersize=11, markerfacecolor="none", markeredgecolor="C3",
                  label="Pareto front" if len(front) > 1 else "Pareto front: one point")
        for mark, xi, yi in zip(marks, x, y):
            axis.annotate(mark, (xi, yi), textcoords="offset points", xytext=(5, -10),
                          fontsize=8)
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel(name)
        axis.set_ylabel("test accuracy %")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8, loc="best")
    figure.suptitle("Accuracy against speed (bars: 95% intervals)", fontsize=10)
    if keyed:
        figure.text(0.01, -0.02, "\n".join(f"{mark}: {name}" for mark, name in zip(marks, names)),
                    va="top", fontsize=8)
    return figure


def per_class_f1(table, class_names):
    """Per-class F1 of every configuration side by side; ``table`` has configuration, label,
    f1 (mean over seeds)."""
    labels = list(dict.fromkeys(table["configuration"]))
    width = 0.8 / len(labels)
    figure_width = max(8, len(class_names) * 0.9)
    columns = legend_columns(labels, figure_width, 7, 6)
    legend_rows = -(-len(labels) // columns)
    figure = Figure(figsize=(figure_width, 3.8 + 0.14 * legend_rows), layout="constrained")
    axes = figure.subplots()
    for index, label in enumerate(labels):
        rows = table[table["configuration"] == label].sort_values("label")
        axes.bar(rows["label"] + (index - (len(labels) - 1) / 2) * width, rows["f1"] * 100,
                 width, label=label)
    axes.set_xticks(range(len(class_names)), class_names, fontsize=LABEL_POINTS)
    low = max(0, np.floor(table["f1"].min() * 100 / 5) * 5 - 5)
    axes.set_ylim(low, 100)
    axes.set_ylabel("F1 %")
    axes.set_title("Per-class F1" + (f" (the axis starts at {low:g}%, not 0)" if low else ""),
                   fontsize=10)
    figure.legend(fontsize=7, ncol=columns, loc="outside lower center")
    axes.grid(alpha=0.3, axis="y")
    return figure


def hard_examples(images, indices, true, probabilities, class_names):
    """For each test image in ``indices``: the image, and each configuration's class
    probabilities as bars (the true class in green, a wrong answer in red).

    ``probabilities`` maps a configuration to its N x classes array. Labels are 9 points or
    more, legible when the report shows the figure at its own width; a name longer than
    :data:`LONGEST_COLUMN_TITLE` is wrapped over lines. More configurations than
    :data:`MOST_BAR_COLUMNS` get :func:`hard_examples_table`, whose width does not grow with
    them."""
    labels = list(probabilities)
    if len(labels) > MOST_BAR_COLUMNS:
        return hard_examples_table(images, indices, true, probabilities, class_names)
    figure = Figure(figsize=(2.0 * (len(labels) + 1), 2.0 * len(indices) + 0.5),
                    layout="constrained")
    axes = figure.subplots(len(indices), len(labels) + 1, squeeze=False)
    classes = np.arange(len(class_names))
    for row, index in enumerate(indices):
        show_image(axes[row, 0], images[index], f"#{index}: {class_names[true[index]]}",
                   fontsize=LABEL_POINTS)
        for column, label in enumerate(labels, start=1):
            proba = probabilities[label][index]
            answer = int(np.argmax(proba))
            colors = ["lightgrey"] * len(classes)
            colors[answer] = RIGHT if answer == true[index] else MISTAKE
            axis = axes[row, column]
            axis.bar(classes, proba, color=colors)
            if answer != true[index]:
                axis.bar([true[index]], [proba[true[index]]], color=RIGHT)
            axis.set_ylim(0, 1)
            axis.set_yticks([0, 0.5, 1], ["0", ".5", "1"] if column == 1 else [])
            axis.set_xticks(classes, class_names if len(max(class_names, key=len)) < 2
                            else classes, fontsize=LABEL_POINTS)
            axis.get_xticklabels()[true[index]].set(color=RIGHT, fontweight="bold")
            axis.tick_params(axis="y", labelsize=LABEL_POINTS)
            if row == 0:
                axis.set_title(textwrap.fill(label, LONGEST_COLUMN_TITLE, break_on_hyphens=False),
                               fontsize=LABEL_POINTS + 1)
    figure.suptitle("Hard test images: each configuration's class probabilities\n"
                    "green: the true class (its label in bold); red: a wrong answer",
                    fontsize=10)
    return figure


def hard_examples_table(images, indices, true, probabilities, class_names):
    """The hard images as columns, a row per configuration: each cell gives the class the
    configuration answered and the probability it gave the true class, coloured by that
    probability (red 0 to green 1). The names stand once at the left, however long."""
    labels = list(probabilities)
    longest = len(max(labels, key=len))
    figure = Figure(figsize=(0.08 * longest + 1.3 * len(indices) + 0.6,
                             1.9 + 0.3 * len(labels)), layout="constrained")
    grid = figure.add_gridspec(2, len(indices), height_ratios=(1.3, 0.3 * len(labels)))
    for column, index in enumerate(indices):
        show_image(figure.add_subplot(grid[0, column]), images[index],
                   f"#{index}: {class_names[true[index]]}", fontsize=LABEL_POINTS)
        proba = np.array([probabilities[label][index] for label in labels])
        truth = proba[:, true[index]]
        axis = figure.add_subplot(grid[1, column])
        axis.imshow(truth[:, None], cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        for row, answer in enumerate(proba.argmax(axis=1)):
            axis.text(0, row, f"{class_names[answer]}  {truth[row]:.2f}", ha="center",
                      va="center", fontsize=LABEL_POINTS,
                      color="white" if abs(truth[row] - 0.5) > 0.35 else "black",  # dark ends
                      fontweight="bold" if answer == true[index] else "normal")
        axis.set_xticks([])
        axis.set_yticks(range(len(labels)), labels if column == 0 else [],
                        fontsize=LABEL_POINTS)
    figure.suptitle("Hard test images: the class each configuration answered (bold when "
                    "right) and the probability\nit gave the true class, coloured from red (0) "
                    "to green (1)", fontsize=10)
    return figure


def shift_examples(examples, count=4):
    """A column per condition, the same test images under each: ``examples`` maps a condition
    name to its images (the clean ones first)."""
    names = list(examples)
    figure = Figure(figsize=(0.75 * len(names) + 0.4, 0.8 * count + 0.6), layout="constrained")
    axes = figure.subplots(count, len(names), squeeze=False)
    for column, name in enumerate(names):
        for row in range(count):
            show_image(axes[row, column], examples[name][row])
        axes[0, column].set_title(name, fontsize=6)
    figure.suptitle("The same test images under each condition", fontsize=10)
    return figure


def shift_heatmap(matrix):
    """Accuracy (%) of each configuration (rows) under each condition (columns), the number in
    each cell, darker for lower."""
    values = matrix.to_numpy() * 100
    rows, columns = values.shape
    figure = Figure(figsize=(1.0 + 0.62 * columns + 0.08 * max(map(len, matrix.index)),
                             1.6 + 0.4 * rows), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(values, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for row in range(rows):
        for column in range(columns):
            if not np.isnan(values[row, column]):
                axes.text(column, row, f"{values[row, column]:.1f}", ha="center", va="center",
                          fontsize=7)
    axes.set_xticks(range(columns), matrix.columns, fontsize=7, rotation=60, ha="right",
                    rotation_mode="anchor")
    axes.set_yticks(range(rows), matrix.index, fontsize=8)
    figure.colorbar(image, ax=axes, label="accuracy %", shrink=0.8)
    axes.set_title("Accuracy % under each condition (mean over seeds)", fontsize=10)
    return figure


def cannot_rank(curves):
    """``{condition: [configuration, ...]}``: the configurations whose every image on that
    condition has the same confidence (a 1-nearest-neighbour model, a tree with pure leaves: all
    0 or 1), so that their risk-coverage curve is one point, not a curve."""
    return {condition: [label for label, (coverage, _) in lines.items() if len(coverage) == 1]
            for condition, lines in curves.items()}


def flat_note(curves, condition, labels):
    """One line naming the configurations that cannot rank their answers, with their error."""
    errors = ", ".join(f"{label} ({(1 - curves[condition][label][1][0]) * 100:.1f}% error)"
                       for label in labels)
    return (f"Same confidence on every image, nothing to rank: {errors}; a threshold answers "
            "all of them or none.")


def risk_coverage(curves, thresholds=None):
    """Error rate on the answered images against the fraction answered, a panel per condition
    and a line per configuration: ``curves`` maps a condition to ``{configuration: (coverage,
    accuracy)}`` as :func:`~mnistbench.analysis.selective.operating_points` gives them;
    ``thresholds`` maps (condition, configuration) to the (coverage, accuracy) the chosen
    threshold gave, marked with a cross.

    A configuration that cannot rank its answers (:func:`cannot_rank`) gets a line of text under
    its panel instead of a flat line; when none can, on any condition, the figure is those lines
    of text alone."""
    flat = cannot_rank(curves)
    if all(set(flat[condition]) == set(lines) for condition, lines in curves.items()):
        return text_figure([f"{condition}: {flat_note(curves, condition, flat[condition])}"
                            for condition in curves if flat[condition]])
    labels = list(dict.fromkeys(label for lines in curves.values() for label in lines))
    palette = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    colors = {label: palette(index % palette.N) for index, label in enumerate(labels)}
    figure = Figure(figsize=(5.2 * len(curves), 3.6 + 0.12 * len(labels)), layout="constrained")
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    for axis, (condition, lines) in zip(axes, curves.items()):
        for label, (coverage, accuracy) in lines.items():
            if label in flat[condition]:
                continue
            axis.step(np.r_[0, coverage] * 100, np.r_[1 - accuracy[0], 1 - accuracy] * 100,
                      where="post", color=colors[label], label=label)
            point = (thresholds or {}).get((condition, label))
            if point is not None and point[0] > 0:
                axis.plot(point[0] * 100, (1 - point[1]) * 100, "x", color=colors[label], ms=8,
                          mew=2)
        axis.set_ylim(bottom=0)
        axis.set_xlim(0, 100)
        axis.set_xlabel("coverage: % of images answered")
        axis.set_ylabel("error % on the answered images")
        axis.set_title(condition, fontsize=10)
        axis.grid(alpha=0.3, which="both")
        if flat[condition]:
            axis.annotate(textwrap.fill(flat_note(curves, condition, flat[condition]), 70),
                          (0, 0), xycoords="axes fraction", xytext=(0, -42),
                          textcoords="offset points", va="top", fontsize=8, color="#555")
    handles = {}
    for axis in axes:  # a configuration drawn in any panel, once
        for handle, name in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    figure.legend(list(handles.values()), list(handles), loc="outside lower center",
                  fontsize=7, ncol=legend_columns(handles, figure.get_figwidth(), 7, 4))
    figure.suptitle("Risk against coverage, as the confidence threshold falls"
                    + (" (x: the threshold chosen on the holdout)" if thresholds else ""),
                    fontsize=10)
    return figure


def text_figure(lines):
    """A figure of a few lines of text, for a section whose plot would show nothing."""
    wrapped = [textwrap.fill(line, 110) for line in lines]
    figure = Figure(figsize=(9, 0.3 + 0.22 * sum(text.count("\n") + 1 for text in wrapped)))
    figure.text(0.01, 0.5, "\n".join(wrapped), va="center", fontsize=9)
    return figure
