"""Bring your own classifier: ``module:Class`` names, estimator instances, entry-point plugins,
and a registry that imports nothing until an algorithm is used."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC

import mnistbench
from mnistbench.classifiers import registry
from mnistbench.classifiers.external import ExternalClassifier
from mnistbench.classifiers.persistence import save_model
from mnistbench.errors import ParameterError
from mnistbench.run.runner import resume_benchmark, run_benchmark
from mnistbench.run.experiment import Experiment
from mnistbench.run.spec import JobSpec


def expand(algos, dataset, params=None, grid=None, **options):
    """The checked jobs of an experiment, as a list."""
    return list(Experiment.from_options(algos, params, grid, dataset=dataset,
                                        **options).checked().jobs())


EXTRA_TREES = "sklearn.ensemble:ExtraTreesClassifier"


def test_a_class_path_runs_beside_a_built_in_through_the_cli(tmp_path, cli):
    out = tmp_path / "run"
    result = cli("--algos", f"knn,{EXTRA_TREES}", "--dataset", "digits", "--set",
                 "ExtraTreesClassifier.n_estimators=10", "--no-report", "--out", out)
    assert result.returncode == 0, result.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert summary["algorithm"].tolist() == ["knn", EXTRA_TREES]
    assert (summary["status"] == "ok").all() and (summary["accuracy"] > 0.8).all()
    assert json.loads(summary.loc[1, "params"]) == {"n_estimators": "10"}
    resolved = json.loads(summary.loc[1, "resolved"])
    assert resolved["n_estimators"] == 10 and resolved["random_state"] == 0  # the job's seed
    assert summary.loc[1, "job_id"].startswith("sklearn.ensemble-ExtraTreesClassifier-")


@pytest.mark.parametrize("algos, params, message", [
    ("nosuchmodule:Model", {}, "cannot import module 'nosuchmodule' for algorithm "
                               r"'nosuchmodule:Model' \(No module named 'nosuchmodule'\)"),
    ("sklearn.ensemble:NoSuchForest", {}, "module 'sklearn.ensemble' has no class "
                                          "'NoSuchForest'"),
    ("sklearn.decomposition:PCA", {}, "'sklearn.decomposition:PCA' is not a scikit-learn "
                                      "classifier"),
    (EXTRA_TREES, {"ExtraTreesClassifier": {"n_estimators": 0}},
     "The 'n_estimators' parameter of ExtraTreesClassifier must be an int in the range "
     r"\[1, inf\). Got 0 instead."),
    (EXTRA_TREES, {"ExtraTreesClassifier": {"trees": 3}},
     f"unknown parameter trees for '{EXTRA_TREES}'; valid: bootstrap,"),
    (EXTRA_TREES, {"ExtraTreesClassifier": {"random_state": 3}},
     "ExtraTreesClassifier.random_state is set by --seed"),
    ("knn", {"ExtraTreesClassifier": {"n_estimators": 3}}, "unknown algorithm"),
])
def test_bad_classes_and_values_fail_before_anything_runs(algos, params, message):
    with pytest.raises(ParameterError, match=message):
        expand(algos, "digits", params=params)


def test_a_bad_class_path_is_one_line_and_exit_2_in_the_cli(tmp_path, capsys):
    from mnistbench.cli import main

    assert main(["--algos", "sklearn.decomposition:PCA", "--dataset", "digits", "--out",
                 str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        "mnistbench: error: 'sklearn.decomposition:PCA' is not a scikit-learn classifier (it "
        "needs fit, predict and the estimator tags of scikit-learn's ClassifierMixin)\n")
    assert not (tmp_path / "run").exists()


def test_estimator_instances_run_beside_names_and_resume(tmp_path, digits):
    summary = run_benchmark([("my-svc", SVC(C=3)), "knn",
                             ("my-forest", RandomForestClassifier(n_estimators=5))],
                            dataset="digits", out=tmp_path, repeats=2)
    assert summary["algorithm"].tolist() == ["my-svc"] * 2 + ["knn"] * 2 + ["my-forest"] * 2
    assert (summary["status"] == "ok").all()
    # the parameters it was given, its class in the job, and the seed in its random_state
    assert json.loads(summary.loc[0, "params"]) == {"C": "3"}
    assert [json.loads(resolved)["random_state"] for resolved in summary["resolved"][4:]] == [0, 1]
    expected = SVC(C=3).fit(digits.X_train.reshape(-1, 64) / 255, digits.y_train)
    assert summary.loc[0, "accuracy"] == pytest.approx(
        expected.score(digits.X_test.reshape(-1, 64) / 255, digits.y_test))
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["request"]["algorithms"]["my-svc"] == {
        "target": "sklearn.svm._classes:SVC", "params": {"C": "3"}, "grid": {}}
    again = resume_benchmark(tmp_path, algos=[("my-svc", SVC(C=3)), "tree"])  # read back
    assert again["algorithm"].tolist()[-2:] == ["tree", "tree"] and len(again) == 8


def test_an_instance_job_id_is_stable_and_its_parameters_count():
    ids = [expand([("mine", estimator)], "digits")[0].job_id
           for estimator in (SVC(C=3), SVC(C=3, random_state=9), SVC(C=4), SVC())]
    assert ids[0] == ids[1]  # its random_state is the job's seed
    assert len(set(ids[1:])) == 3
    spec = expand([("mine", SVC(C=3))], "digits")[0]
    assert spec == JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert JobSpec("knn", {}, "digits").job_id == "knn-b8d0aa70c8"  # ids of names as before


@pytest.mark.parametrize("entry, message", [
    (("knn", SVC()), "'knn' names an algorithm already"),
    (("my-pca", PCA()), "'my-pca' is not a scikit-learn classifier"),
    (("a,b", SVC()), "without commas"),
])
def test_bad_instances_are_refused(entry, message):
    with pytest.raises(ParameterError, match=message):
        expand([entry], "digits")


def test_the_wrapper_scales_pixels_and_handles_estimators_without_probabilities(digits):
    from sklearn.svm import LinearSVC

    wrapped = ExternalClassifier(LinearSVC()).fit(digits.X_train, digits.y_train)
    direct = LinearSVC().fit(digits.X_train.reshape(-1, 64) / np.float32(255), digits.y_train)
    proba = wrapped.predict_proba(digits.X_test)
    np.testing.assert_array_equal(proba.argmax(axis=1),
                                  direct.predict(digits.X_test.reshape(-1, 64) / np.float32(255)))
    assert set(np.unique(proba)) == {0.0, 1.0}  # all of it on the predicted class
    with pytest.raises(ParameterError, match="estimator must be a scikit-learn classifier"):
        ExternalClassifier().fit(digits.X_train, digits.y_train)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed package ``digit-plugins`` registering ``bayes`` (a module of its own) and
    ``knn`` (refused: a built-in name) in the group ``mnistbench.algorithms``."""
    (tmp_path / "digit_plugin_models.py").write_text(
        "from sklearn.naive_bayes import GaussianNB\n\n\nclass Bayes(GaussianNB):\n"
        "    '''Gaussian naive Bayes, from a plugin.'''\n")
    info = tmp_path / "digit_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: digit-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[mnistbench.algorithms]\nbayes = digit_plugin_models:Bayes\n"
        "knn = digit_plugin_models:Bayes\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.plugin_algorithms.cache_clear()
    yield tmp_path
    sys.modules.pop("digit_plugin_models", None)
    registry.plugin_algorithms.cache_clear()


def test_plugins_are_found_from_their_metadata_and_imported_when_used(plugin, digits):
    assert registry.algorithm_names()[-1] == "bayes" and "digit_plugin_models" not in sys.modules
    assert registry.registered()["knn"] == "mnistbench.classifiers.knn:KNN"
    summary = run_benchmark("bayes,tree", dataset="digits", out=plugin / "run")
    assert "digit_plugin_models" in sys.modules
    assert summary["algorithm"].tolist() == ["bayes", "tree"]
    assert summary.loc[0, "status"] == "ok" and summary.loc[0, "accuracy"] > 0.6


def test_listing_and_help_import_no_model_library_nor_plugin(plugin):
    code = """if True:
        import contextlib, io, sys
        from mnistbench.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--help"])
            except SystemExit:
                pass
        heavy = ("sklearn.svm", "sklearn.ensemble", "sklearn.linear_model", "sklearn.tree",
                 "sklearn.neural_network", "sklearn.naive_bayes", "lightgbm", "tensorflow",
                 "keras", "digit_plugin_models")
        print(sorted(m for m in sys.modules if m.startswith(heavy + ("sklearn",))))
        listing = io.StringIO()
        with contextlib.redirect_stdout(listing):
            main(["--list"])
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        print(listing.getvalue())
    """
    root = Path(mnistbench.__file__).parents[1]  # this mnistbench, whatever is installed
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": f"{plugin}:{root}"})
    after_help, after_list, *listing = result.stdout.splitlines()
    assert after_help == "[]" and after_list == "[]"
    assert "bayes       plugin digit_plugin_models:Bayes (imported when used)" in listing
    assert any(line.startswith("svm         Support-vector classifier") for line in listing)


def test_the_api_lists_plugins_as_algorithms(plugin):
    assert "bayes" in mnistbench.algorithm_names()
    assert isinstance(mnistbench.get_classifier("bayes"), ExternalClassifier)


def test_a_wrapped_estimator_saves_and_loads(tmp_path, digits):
    model = mnistbench.get_classifier(EXTRA_TREES, n_estimators=5, random_state=0).fit(
        digits.X_train, digits.y_train)
    save_model(model, tmp_path / "model")
    loaded = mnistbench.load_model(tmp_path / "model")
    assert type(loaded) is ExternalClassifier
    np.testing.assert_array_equal(loaded.predict_proba(digits.X_test),
                                  model.predict_proba(digits.X_test))


def test_the_documented_example_runs(tmp_path, capsys):
    page = (Path(__file__).parents[1] / "docs" / "guide" / "your-classifier.md").read_text()
    blocks = [block.split("```")[0] for block in page.split("```python\n")[1:]]
    example = next(block for block in blocks if "mnistbench.run_benchmark(mine" in block)
    assert len(example.strip().splitlines()) <= 10
    assert 'dataset="mnist")' in example
    # fewer trees, and one thread: a thread per core makes each one-image predict 20 ms here
    quick = example.replace("n_estimators=200", "n_estimators=10").replace("n_jobs=-1", "n_jobs=1")
    exec(quick.replace('dataset="mnist")', f'dataset="digits", out=r"{tmp_path}")'), {})
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("extra-trees", "pca-knn", "forest", "svm"))
