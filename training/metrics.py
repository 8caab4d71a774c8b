"""Per-head metrics: the figures `triage evaluate`, the report and the threshold search share."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: the mean |accuracy - confidence| weighted by bin size.

    For a binary head pass P(class 1) as confidence and the 0/1 label as `correct` (then it is the
    calibration error of the positive-class probability); for a multi-class head pass the top
    probability and whether the top label was right.
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def classification_report(
    y_true: Sequence, y_pred: Sequence, labels: Sequence[str]
) -> dict:
    """Macro-F1, accuracy, per-class precision/recall/F1/support and the confusion matrix."""
    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "macro_recall": float(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "labels": labels,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def binary_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """F1 of the positive class."""
    return float(f1_score(y_true, y_pred, zero_division=0))


def spearman(y_true: Sequence[float], scores: Sequence[float]) -> float:
    """Spearman rank correlation (nan when either side is constant)."""
    if len(set(np.asarray(y_true).tolist())) < 2 or len(set(np.asarray(scores).tolist())) < 2:
        return float("nan")
    return float(spearmanr(y_true, scores).statistic)
