"""Decision thresholds tuned on validation predictions (out-of-fold predictions of care/train).

Tuning on out-of-fold predictions, rather than on `care/val`, keeps `care/val` untouched for the
figures we report: it is validation data the model did not fit, and there is 7x more of it.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from model.decisions import Thresholds, primary_intents, urgency_levels
from model.heads import HeadProbabilities, urgency_score


def _grid(step: float) -> np.ndarray:
    return np.round(np.arange(step, 1.0, step), 6)


def tune_intent(probabilities: np.ndarray, tags_true: np.ndarray, step: float, rounds: int = 3) -> tuple[float, ...]:
    """Per-tag thresholds that maximise the macro-F1 of the primary intent (other included).

    The primary intent is derived from the tags (the first of complaint, question, praise that is
    on), so the thresholds interact; coordinate ascent over a grid settles in a few rounds.
    """
    n_tags = probabilities.shape[1]
    primary_true = primary_intents(tags_true.astype(bool))
    labels = list(range(-1, n_tags))

    def objective(thresholds: np.ndarray) -> float:
        predicted = primary_intents(probabilities >= thresholds)
        return f1_score(primary_true, predicted, labels=labels, average="macro", zero_division=0)

    thresholds = np.full(n_tags, 0.5)
    best = objective(thresholds)
    for _ in range(rounds):
        improved = False
        for tag in range(n_tags):
            for candidate in _grid(step):
                trial = thresholds.copy()
                trial[tag] = candidate
                score = objective(trial)
                if score > best + 1e-12:
                    best, thresholds, improved = score, trial, True
        if not improved:
            break
    return tuple(float(value) for value in thresholds)


def tune_urgency(levels_probabilities: np.ndarray, levels_true: np.ndarray, step: float, rounds: int = 4) -> tuple[float, float, float]:
    """Three increasing cut points on the urgency score that maximise macro-F1 over levels."""
    scores = urgency_score(levels_probabilities)
    n_levels = levels_probabilities.shape[1]
    labels = list(range(n_levels))
    # Start from the cuts that reproduce the training distribution of levels.
    shares = np.cumsum(np.bincount(levels_true, minlength=n_levels))[:-1] / len(levels_true)
    cuts = np.quantile(scores, shares)

    def objective(candidate: np.ndarray) -> float:
        return f1_score(levels_true, urgency_levels(scores, tuple(candidate)), labels=labels, average="macro", zero_division=0)

    best = objective(cuts)
    grid = _grid(step / 2)
    for _ in range(rounds):
        improved = False
        for index in range(len(cuts)):
            low = cuts[index - 1] if index > 0 else 0.0
            high = cuts[index + 1] if index + 1 < len(cuts) else 1.0
            for candidate in grid[(grid > low) & (grid < high)]:
                trial = cuts.copy()
                trial[index] = candidate
                score = objective(trial)
                if score > best + 1e-12:
                    best, cuts, improved = score, trial, True
        if not improved:
            break
    return tuple(float(value) for value in cuts)


def tune_binary(probabilities: np.ndarray, y_true: np.ndarray, step: float, window: int = 5) -> float:
    """The threshold with the best F1 of the positive class, on an F1 curve smoothed over
    `window` grid points: F1 is flat and noisy near its top, and a lone spike does not generalise."""
    grid = _grid(step)
    scores = np.array([f1_score(y_true, probabilities >= candidate, zero_division=0) for candidate in grid])
    smoothed = np.convolve(np.pad(scores, window // 2, mode="edge"), np.ones(window) / window, mode="valid")
    return float(grid[int(np.argmax(smoothed))])


def tune_thresholds(
    probabilities: HeadProbabilities,
    *,
    tags_true: np.ndarray,
    urgency_true: np.ndarray,
    dm_true: np.ndarray,
    step: float,
) -> Thresholds:
    """Every threshold of a model, from validation probabilities and their labels."""
    return Thresholds(
        intent=tune_intent(probabilities.intent, tags_true, step),
        urgency_cuts=tune_urgency(probabilities.urgency, urgency_true, step),
        dm=tune_binary(probabilities.dm, dm_true, step),
    )
