"""Selective prediction: risk-coverage, AURC, thresholds and refusing, against hand computations."""

import numpy as np
import pytest

from mnistbench import SelectiveClassifier
from mnistbench.analysis.selective import (aurc, choose_threshold, confidence_scores,
                                           coverage_at_accuracy, operating_points, optimal_aurc,
                                           predict_or_refuse, selective_summary)
from mnistbench.classifiers.registry import get_classifier


def test_aurc_and_e_aurc_by_hand():
    confidence = [0.9, 0.8, 0.7, 0.6]
    correct = [True, False, True, False]
    # risks at coverage 1/4 .. 4/4: 0, 1/2, 1/3, 1/2
    assert aurc(confidence, correct) == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 2) / 4)
    # best order, both right answers first: 0, 0, 1/3, 1/2
    assert optimal_aurc(correct) == pytest.approx((1 / 3 + 1 / 2) / 4)
    assert optimal_aurc([True] * 5) == 0 and optimal_aurc([False] * 4) == 1


def test_ties_are_answered_together():
    thresholds, coverage, accuracy, sizes = operating_points([0.9, 0.5, 0.9], [True, True, False])
    np.testing.assert_allclose(thresholds, [0.9, 0.5])
    np.testing.assert_allclose(coverage, [2 / 3, 1])
    np.testing.assert_allclose(accuracy, [1 / 2, 2 / 3])
    np.testing.assert_array_equal(sizes, [2, 1])
    assert aurc([0.9, 0.5, 0.9], [True, True, False]) == pytest.approx((2 * 1 / 2 + 1 / 3) / 3)
    # every image equally confident: one operating point, the plain error rate
    assert aurc([1.0] * 4, [True, True, True, False]) == pytest.approx(0.25)


def test_coverage_and_threshold_for_a_target():
    confidence = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6]
    correct = [True, True, True, False, True, False]
    assert coverage_at_accuracy(confidence, correct, 1.0) == pytest.approx(3 / 6)
    assert coverage_at_accuracy(confidence, correct, 0.8) == pytest.approx(5 / 6)
    assert choose_threshold(confidence, correct, 1.0) == 0.9
    assert choose_threshold(confidence, correct, 0.8) == 0.7
    assert choose_threshold([0.9, 0.8], [True, False], 0.5) == 0.8  # 1/2 right at 0.8
    # the most confident answer is wrong and 99% is never reached: refuse everything
    assert choose_threshold([0.9, 0.8], [False, True], 0.99) == float("inf")
    assert coverage_at_accuracy([0.9, 0.8], [False, False], 0.99) == 0


def test_margin_and_summary():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    np.testing.assert_allclose(confidence_scores(probabilities, "margin"), [0.5, 0.05])
    summary = selective_summary(probabilities, np.array([0, 1]), np.array([0, 0]))
    assert summary["aurc"] == pytest.approx((0 + 1 / 2) / 2)
    assert summary["e_aurc"] == pytest.approx(0)
    assert summary["coverage_at_0.995"] == 0.5


def test_refusing_wrapper_chooses_on_held_out_data(digits):
    X_fit, y_fit, X_val, y_val = digits.validation_split()
    selective = SelectiveClassifier(get_classifier("knn", k=7), target_accuracy=0.99)
    selective.fit(X_fit, y_fit).calibrate(X_val, y_val)
    assert selective.calibration_["accuracy"] >= 0.99
    answers = selective.predict(digits.X_test)
    refused = answers == -1
    assert 0 < refused.mean() < 0.5
    confidence = selective.predict_proba(digits.X_test).max(axis=1)
    assert (confidence[refused] < selective.threshold_).all()
    assert (confidence[~refused] >= selective.threshold_).all()
    np.testing.assert_array_equal(
        answers, predict_or_refuse(selective.estimator_, digits.X_test, selective.threshold_))
    full = selective.estimator_.score(digits.X_test, digits.y_test)
    assert selective.score(digits.X_test, digits.y_test) > full  # refusing the doubtful helps


def test_calibrate_uses_an_already_fitted_model(digits):
    tree = get_classifier("tree", max_depth=4, random_state=0).fit(digits.X_train, digits.y_train)
    selective = SelectiveClassifier(tree, target_accuracy=0.9).calibrate(digits.X_test,
                                                                         digits.y_test)
    assert selective.estimator_ is tree
    with pytest.raises(ValueError, match="target_accuracy must be in"):
        SelectiveClassifier(tree, target_accuracy=1.5).calibrate(digits.X_test, digits.y_test)
