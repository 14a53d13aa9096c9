"""The report's figures say what they cannot show: ties among confident mistakes, models whose
confidence cannot rank their answers, and an F1 axis that does not start at zero."""

import numpy as np
import pandas as pd

from mnistbench.report import plots

IMAGES = np.zeros((30, 8, 8), dtype=np.uint8)


def mistakes(confidences):
    """Prediction rows, every one a mistake, with these confidences."""
    n = len(confidences)
    return pd.DataFrame({"index": range(n), "true": [0] * n, "predicted": [1] * n,
                         "confidence": confidences})


def test_a_confidence_below_one_never_reads_as_certain():
    assert plots.confidence_text(0.997) == "99.7%"
    assert plots.confidence_text(1.0) == "100%"
    assert plots.confidence_text(0.42) == "42%"


def test_mistakes_that_tie_are_said_to_tie():
    figure = plots.confident_mistakes(IMAGES, mistakes([1.0] * 16), ["0", "1"], "knn")
    title = figure.get_suptitle()
    assert "16 mistakes share the confidence 100%" in title and "test-set order" in title


def test_a_tie_at_the_cut_is_said_and_distinct_confidences_are_not():
    title = plots.confident_mistakes(IMAGES, mistakes([0.99] * 8 + [0.5] * 4), ["0", "1"],
                                     "x").get_suptitle()
    assert "4 mistakes share the confidence 50%; the last 2 shown" in title
    ranked = np.linspace(0.5, 0.9, 12)
    assert plots.confident_mistakes(IMAGES, mistakes(ranked), ["0", "1"], "x").get_suptitle() \
        == "x"


def curve(levels, error):
    """A risk-coverage curve of ``levels`` confidence levels ending at ``error``."""
    coverage = np.linspace(1 / levels, 1, levels)
    return coverage, 1 - error * coverage ** 2


def test_a_model_that_cannot_rank_gets_a_line_of_text_not_a_flat_curve():
    curves = {"test": {"knn": curve(1, 0.044), "mlp": curve(50, 0.1)}}
    assert plots.cannot_rank(curves) == {"test": ["knn"]}
    figure = plots.risk_coverage(curves)
    (axis,) = figure.axes
    assert [line.get_label() for line in axis.get_lines()] == ["mlp"]
    notes = [text.get_text() for text in axis.texts]
    assert len(notes) == 1 and "knn (4.4% error)" in notes[0]


def test_when_no_model_can_rank_the_figure_is_text_alone():
    curves = {"test": {"knn": curve(1, 0.044), "tree": curve(1, 0.219)}}
    figure = plots.risk_coverage(curves)
    assert figure.axes == []
    text = " ".join(t.get_text() for t in figure.texts)
    assert "knn (4.4% error)" in text and "tree (21.9% error)" in text


def test_the_f1_axis_says_where_it_starts():
    table = pd.DataFrame({"configuration": ["a"] * 2 + ["b"] * 2, "label": [0, 1] * 2,
                          "f1": [0.99, 0.95, 0.80, 0.72]})
    (axis,) = plots.per_class_f1(table, ["0", "1"]).axes
    low = axis.get_ylim()[0]
    assert low == 65 and "starts at 65%" in axis.get_title()


def test_long_configuration_names_keep_the_plots_their_width():
    """A grid's names (the class path and every parameter) once squeezed the axes to nothing:
    the scatter points get numbers and a key, and legends take fewer columns."""
    names = [f"sklearn.neural_network:MLPClassifier alpha={a} hidden_layer_sizes=[512]"
             for a in (0.1, 0.01, 0.001)]
    summary = pd.DataFrame({"configuration": names, "accuracy": [0.9, 0.92, 0.91],
                            "accuracy_half": 0.01, "accuracy_low": 0.0, "accuracy_high": 1.0,
                            "seeds": 3, "latency_p50_ms": [0.1, 0.2, 0.3],
                            "latency_p50_ms_half": 0.01, "fit_s": [1.0, 2.0, 3.0],
                            "fit_s_half": 0.1})
    figure = plots.trade_offs(summary)
    assert [text.get_text() for text in figure.axes[0].texts] == ["1", "2", "3"]
    assert f"2: {names[1]}" in figure.texts[-1].get_text()
    f1 = pd.DataFrame({"configuration": np.repeat(names, 2), "label": [0, 1] * 3, "f1": 0.9})
    figure = plots.per_class_f1(f1, ["0", "1"])
    assert figure.legends[0]._ncols == 1
    for figure in (plots.trade_offs(summary), plots.per_class_f1(f1, ["0", "1"])):
        png = plots.save(figure)
        width = int.from_bytes(png[16:20], "big")  # the PNG header's width
        assert width < 1300
    short = summary.assign(configuration=["knn", "svm", "cnn"])
    labels = [text.get_text() for text in plots.trade_offs(short).axes[0].texts]
    assert labels == ["knn", "svm", "cnn"]


def test_many_configurations_show_hard_examples_as_a_table_of_readable_width():
    """40 grid configurations once drew 41 columns of bars, 8,579 px wide under titles that ran
    into each other: past six each configuration is a row, and a few long names wrap."""
    rng = np.random.default_rng(0)
    names = [f"sklearn.neural_network:MLPClassifier alpha={a} hidden_layer_sizes=[{h}]"
             for a in (0.1, 0.01, 0.001, 1e-4) for h in range(100, 110)]
    probabilities = {name: rng.dirichlet(np.ones(10), size=30) for name in names}
    true = np.arange(30) % 10
    figure = plots.hard_examples(IMAGES, [3, 7], true, probabilities, [str(n) for n in range(10)])
    table = figure.axes[1]
    assert [label.get_text() for label in table.get_yticklabels()] == names
    answers = [probabilities[name][3].argmax() for name in names]
    truths = [probabilities[name][3][3] for name in names]
    assert [text.get_text() for text in table.texts] == [
        f"{answer}  {truth:.2f}" for answer, truth in zip(answers, truths)]
    png = plots.save(figure)
    assert int.from_bytes(png[16:20], "big") < 1500  # the PNG header's width
    few = {name: probabilities[name] for name in names[:3]}
    bars = plots.hard_examples(IMAGES, [3, 7], true, few, [str(n) for n in range(10)])
    titles = [axis.get_title() for axis in bars.axes[1:4]]
    assert ["".join(title.split()) for title in titles] == ["".join(n.split()) for n in names[:3]]
    assert all("\n" in title for title in titles)  # wrapped, every line within 24 characters
    assert all(len(line) <= 24 for title in titles for line in title.split("\n"))
    assert int.from_bytes(plots.save(bars)[16:20], "big") < 1000
