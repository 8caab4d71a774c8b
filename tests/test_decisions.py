"""Thresholds, their tuning, ordinal urgency and the metrics they are tuned and reported with."""

from __future__ import annotations

import numpy as np
import pytest

from model.decisions import Thresholds, decide, primary_intents, urgency_levels
from model.heads import HeadProbabilities, urgency_from_exceedance, urgency_score
from training.metrics import expected_calibration_error
from training.thresholds import tune_binary, tune_intent, tune_urgency


def test_primary_intent_is_the_first_tag_on() -> None:
    on = np.array([[True, True, False], [False, True, True], [False, False, True], [False, False, False]])
    assert primary_intents(on).tolist() == [0, 1, 2, -1]


def test_urgency_from_crossing_exceedances_is_a_distribution() -> None:
    levels = urgency_from_exceedance(np.array([[0.9, 0.2, 0.4], [0.1, 0.05, 0.0]]))
    assert np.allclose(levels.sum(axis=1), 1) and (levels >= 0).all()
    scores = urgency_score(levels)
    assert scores[0] > scores[1] and ((scores >= 0) & (scores <= 1)).all()


def test_urgency_levels_from_cuts() -> None:
    assert urgency_levels(np.array([0.0, 0.3, 0.5, 0.95]), (0.25, 0.5, 0.9)).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        Thresholds(intent=(0.5, 0.5, 0.5), urgency_cuts=(0.6, 0.5, 0.9), dm=0.5)


def test_decide_uses_the_thresholds() -> None:
    probabilities = HeadProbabilities(
        intent=np.array([[0.6, 0.7, 0.1]]),
        sentiment=np.array([[0.7, 0.2, 0.1]]),
        urgency=np.array([[0.1, 0.2, 0.6, 0.1]]),
        dm=np.array([0.4]),
    )
    strict = decide(probabilities, Thresholds(intent=(0.65, 0.5, 0.5), urgency_cuts=(0.2, 0.4, 0.8), dm=0.5))
    lenient = decide(probabilities, Thresholds(intent=(0.5, 0.5, 0.5), urgency_cuts=(0.2, 0.4, 0.8), dm=0.3))
    assert strict.primary_intent.tolist() == [1] and lenient.primary_intent.tolist() == [0]
    assert strict.dm_model.tolist() == [False] and lenient.dm_model.tolist() == [True]
    assert strict.sentiment_score[0] == pytest.approx(-0.6)
    assert strict.urgency_level.tolist() == [2]


def test_tuning_finds_separating_thresholds() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.1, 2000), 0, 1)  # positives sit around 0.65
    assert 0.4 < tune_binary(p, y, 0.02) < 0.6
    tags = rng.integers(0, 2, (2000, 3))
    probabilities = np.clip(0.5 * tags + rng.normal(0.25, 0.1, (2000, 3)), 0, 1)
    assert all(0.3 < value < 0.7 for value in tune_intent(probabilities, tags, 0.05))
    levels = rng.integers(0, 4, 2000)
    one_hot = np.eye(4)[levels] * 0.7 + 0.075
    cuts = tune_urgency(one_hot, levels, 0.02)
    assert list(cuts) == sorted(cuts)
    assert (urgency_levels(urgency_score(one_hot), cuts) == levels).mean() > 0.95


def test_expected_calibration_error() -> None:
    assert expected_calibration_error(np.array([0.9] * 10), np.array([1] * 9 + [0])) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.9] * 10), np.array([0] * 10)) == pytest.approx(0.9)
