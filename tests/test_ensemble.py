"""Ensembles: the adapter fitting its members together, the two votes, and ``mnistbench ensemble``
combining a finished run's stored probabilities per condition."""

import json

import numpy as np
import pytest

from mnistbench import load_run
from mnistbench.classifiers.ensemble import Ensemble, majority_vote, soft_vote
from mnistbench.classifiers.registry import get_classifier
from mnistbench.errors import ParameterError
from mnistbench.run.combine import ensemble_run
from mnistbench.run.runner import run_benchmark

MEMBERS = ("linear", "knn", "tree")


def test_the_votes():
    a = np.array([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5]])
    b = np.array([[0.0, 0.9, 0.1], [0.1, 0.1, 0.8]])
    c = np.array([[0.1, 0.2, 0.7], [0.0, 0.4, 0.6]])
    np.testing.assert_allclose(soft_vote([a, b, c]), (a + b + c) / 3)
    # one vote each for classes 0, 1 and 2 in the first row: a tie, which goes to class 0
    np.testing.assert_allclose(majority_vote([a, b, c]), [[1 / 3, 1 / 3, 1 / 3], [0, 0, 1]])
    assert majority_vote([b, a]).argmax(axis=1).tolist() == [0, 2]  # two members: ties too


@pytest.mark.parametrize("voting, vote", [("soft", soft_vote), ("majority", majority_vote)])
def test_the_adapter_votes_over_members_fitted_on_the_same_images(voting, vote, digits):
    ensemble = Ensemble(MEMBERS, voting=voting, random_state=4).fit(digits.X_train,
                                                                    digits.y_train)
    alone = [get_classifier(name, **({"random_state": 6} if name == "tree" else {})).fit(
        digits.X_train, digits.y_train) for name in MEMBERS]  # the tree is the third member
    expected = vote([member.predict_proba(digits.X_test) for member in alone])
    np.testing.assert_allclose(ensemble.predict_proba(digits.X_test), expected)
    assert ensemble.members_[2].random_state == 6 and list(ensemble.chosen_params_) == [
        "linear", "knn", "tree"]
    assert ensemble.score(digits.X_test, digits.y_test) > 0.9


def test_members_with_parameters_and_bad_members(digits):
    ensemble = Ensemble(("tree", ("tree", {"max_depth": 3}), "knn", "tree"), voting="majority",
                        random_state=0)
    members = ensemble.fit(digits.X_train, digits.y_train).members_
    assert members[1].max_depth == 3
    assert [members[0].random_state, members[3].random_state] == [0, 3]
    assert list(ensemble.chosen_params_) == ["tree", "tree#2", "knn", "tree#4"]
    for members, message in [(("tree", "nope"), "unknown algorithm 'nope'"),
                             ("tree", "members must be a list"),
                             ((("tree", 3),), "each member must be an algorithm name"),
                             ((("tree", {"depth": 3}),), "unknown parameter depth for 'tree'")]:
        with pytest.raises(ParameterError, match=message):
            get_classifier("ensemble", members=members)


@pytest.fixture(scope="module")
def tree_run(tmp_path_factory, digits):
    """Three seeds of the tree and one knn on the digits, each scored on ``test`` and on the
    test images turned upside down (``rot180``)."""
    out = tmp_path_factory.mktemp("run")
    run_benchmark(["tree", "knn"], dataset="digits", repeats=3, out=out, params={"knn": {"k": 1}},
                  shifts="rot180")
    return out


def test_a_run_s_jobs_combine_per_condition_written_back_as_jobs(tree_run):
    table = ensemble_run(tree_run, "tree")
    assert table[["voting", "condition"]].values.tolist() == [
        ["soft", "test"], ["soft", "rot180"], ["majority", "test"], ["majority", "rot180"]]
    run = load_run(tree_run)
    trees = run.summary[run.summary["algorithm"] == "tree"]["job_id"].tolist()
    soft, majority = table["job_id"].unique()
    assert run.job_ids[-2:] == [soft, majority]
    job = json.loads((tree_run / "jobs" / soft / "job.json").read_text())
    assert job["members"] == trees and list(job["conditions"]) == ["test", "rot180"]
    for condition in ("test", "rot180"):
        members = [run.probabilities(job_id, condition) for job_id in trees]
        np.testing.assert_allclose(run.probabilities(soft, condition), np.mean(members, axis=0),
                                   rtol=1e-6)
        np.testing.assert_allclose(run.probabilities(majority, condition),
                                   majority_vote(members))
    row = run.summary.set_index("job_id").loc[soft]
    assert row["algorithm"] == "ensemble" and row["status"] == "ok" and row["seed"] == 0
    assert json.loads(row["params"]) == {"members": "'tree'", "voting": "'soft'"}
    assert row["fit_s"] == pytest.approx(run.summary.set_index("job_id").loc[trees,
                                                                             "fit_s"].sum())
    assert row["accuracy"] == pytest.approx(table.loc[0, "accuracy"])
    best = table.loc[0, "best_member"]
    assert table.loc[0, "best_accuracy"] == pytest.approx(
        run.summary.set_index("job_id").loc[best, "accuracy"])
    assert 0 < table.loc[0, "p_value"] <= 1
    info = json.loads((tree_run / "run.json").read_text())
    assert [entry["voting"] for entry in info["ensembles"]] == ["soft", "majority"]
    again = ensemble_run(tree_run, "tree", voting="soft")  # the same job, written again
    assert again["job_id"].iloc[0] == soft and len(load_run(tree_run).job_ids) == 8


def test_members_may_be_several_algorithms_or_job_ids(tree_run):
    run = load_run(tree_run)
    knn, tree = run.summary.drop_duplicates("algorithm").set_index("algorithm").loc[
        ["knn", "tree"], "job_id"]
    table = ensemble_run(tree_run, [tree, "knn"], voting="majority")
    assert table.loc[0, "members"] == 4  # one tree and knn's three seeds
    with pytest.raises(ParameterError, match=f"needs at least two finished jobs; '{tree}' names 1"):
        ensemble_run(tree_run, tree)


def test_the_cli_prints_the_votes_and_a_bad_member_is_one_line_and_exit_2(tree_run, capsys):
    from mnistbench.cli import main

    assert main(["ensemble", str(tree_run), "--members", "cnn", "--no-report"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("mnistbench: error: no finished job, algorithm or configuration "
                            "'cnn' in ") and error.count("\n") == 1
    assert main(["ensemble", str(tree_run), "--members", "tree", "--voting", "soft",
                 "--no-report"]) == 0
    header, _, soft_test, soft_rot180 = capsys.readouterr().out.strip().splitlines()
    assert "McNemar p" in header
    assert [cell.strip() for cell in soft_test.split("|")[1:4]] == ["soft", "test", "3"]
    assert [cell.strip() for cell in soft_rot180.split("|")[1:3]] == ["soft", "rot180"]


def test_members_with_parameters_parse_from_the_command_line():
    from mnistbench.run.values import parse_assignment

    name, param, values = parse_assignment("ensemble.members=svm,('mlp',{'epochs':20})")
    members = tuple(values)
    assert (name, param, members) == ("ensemble", "members", ("svm", ("mlp", {"epochs": 20})))
    assert get_classifier("ensemble", members=members)._member_classifiers()[1][1].epochs == 20
