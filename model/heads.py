"""What every backend produces (probabilities per head) and learns from (targets per head).

A backend (the linear path, the transformer path, an ensemble) maps normalised texts to a
`HeadProbabilities`; the decision layer (`model/decisions.py`) turns those into labels with the
thresholds of the manifest. Keeping this seam narrow is what makes the featuriser pluggable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax

from model.labels import INTENT_TAGS, SENTIMENTS, URGENCY_LEVELS

MISSING = -1
"""Target value of an example that carries no label for a head (SemEval tweets have no intent)."""

BINARY_HEADS: tuple[str, ...] = (*INTENT_TAGS, "dm")
"""Heads trained as independent binary classifiers."""

URGENCY_CUTS: tuple[str, ...] = ("urgency_gt0", "urgency_gt1", "urgency_gt2")
"""Urgency as cumulative binary outputs P(level > k)."""

BINARY_OUTPUTS: tuple[str, ...] = (*INTENT_TAGS, *URGENCY_CUTS, "dm")
"""Every backend's binary outputs, in this order: the intent tags, the urgency cuts, DM."""


@dataclass(frozen=True)
class HeadProbabilities:
    """Calibrated probabilities of every head for a batch of n tweets.

    intent:    (n, 3) independent P(tag) for complaint, question, praise (multi-label)
    sentiment: (n, 3) P(negative), P(neutral), P(positive), rows sum to 1
    urgency:   (n, 4) P(level = 0..3), rows sum to 1
    dm:        (n,)   P(move to private messages)
    """

    intent: np.ndarray
    sentiment: np.ndarray
    urgency: np.ndarray
    dm: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.dm)
        expected = {
            "intent": (n, len(INTENT_TAGS)),
            "sentiment": (n, len(SENTIMENTS)),
            "urgency": (n, len(URGENCY_LEVELS)),
            "dm": (n,),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"{name} probabilities have shape {actual}, expected {shape}")

    def __len__(self) -> int:
        return len(self.dm)

    def take(self, rows: np.ndarray | slice) -> HeadProbabilities:
        """The probabilities of a subset of rows."""
        return HeadProbabilities(
            intent=self.intent[rows],
            sentiment=self.sentiment[rows],
            urgency=self.urgency[rows],
            dm=self.dm[rows],
        )

    @staticmethod
    def concatenate(parts: list[HeadProbabilities]) -> HeadProbabilities:
        """Stack the probabilities of consecutive batches."""
        return HeadProbabilities(
            intent=np.concatenate([part.intent for part in parts]),
            sentiment=np.concatenate([part.sentiment for part in parts]),
            urgency=np.concatenate([part.urgency for part in parts]),
            dm=np.concatenate([part.dm for part in parts]),
        )


def head_probabilities(binary: np.ndarray, sentiment_logits: np.ndarray) -> HeadProbabilities:
    """The four heads from the binary outputs' calibrated probabilities (columns in
    `BINARY_OUTPUTS` order) and the sentiment logits (softmax)."""
    n_tags = len(INTENT_TAGS)
    return HeadProbabilities(
        intent=binary[:, :n_tags],
        sentiment=softmax(sentiment_logits, axis=1),
        urgency=urgency_from_exceedance(binary[:, n_tags : n_tags + len(URGENCY_CUTS)]),
        dm=binary[:, -1],
    )


def urgency_from_exceedance(exceed: np.ndarray) -> np.ndarray:
    """Level probabilities from ordinal exceedance probabilities P(level > k), k = 0..2.

    Ordered heads are trained as cumulative binary problems (Frank & Hall 2001); independent fits
    can cross, so the exceedance curve is made non-increasing before differencing.
    """
    exceed = np.minimum.accumulate(np.clip(exceed, 0.0, 1.0), axis=1)
    ones = np.ones((exceed.shape[0], 1))
    zeros = np.zeros((exceed.shape[0], 1))
    levels = np.hstack([ones, exceed]) - np.hstack([exceed, zeros])
    return levels / levels.sum(axis=1, keepdims=True)


def urgency_score(levels: np.ndarray) -> np.ndarray:
    """Expected level scaled to [0, 1]: the ordered score that ranks tweets by urgency."""
    return levels @ np.arange(levels.shape[1]) / (levels.shape[1] - 1)


@dataclass
class HeadTargets:
    """Training labels of n examples; `MISSING` where an example has no label for a head.

    `weight` is a per-example weight (a source can count more or less); `cross_fit` marks the
    examples whose out-of-fold predictions are used to calibrate and to tune thresholds (our own
    labelled care tweets), the others are only ever training data. `language` is each example's
    language code ("" when unknown), for heads that learn per-language weights.
    """

    complaint: np.ndarray
    question: np.ndarray
    praise: np.ndarray
    sentiment: np.ndarray
    urgency: np.ndarray
    dm: np.ndarray
    weight: np.ndarray
    cross_fit: np.ndarray
    sentiment_weight: np.ndarray = field(default_factory=lambda: np.empty(0))
    language: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def __post_init__(self) -> None:
        n = len(self.weight)
        for name in ("complaint", "question", "praise", "sentiment", "urgency", "dm", "cross_fit"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"targets `{name}` has {len(getattr(self, name))} rows, expected {n}")
        if len(self.sentiment_weight) == 0:
            self.sentiment_weight = self.weight
        if len(self.language) == 0:
            self.language = np.full(n, "", dtype=object)
        elif len(self.language) != n:
            raise ValueError(f"targets `language` has {len(self.language)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.weight)

    def intent(self, tag: str) -> np.ndarray:
        """The binary target of one intent tag."""
        return getattr(self, tag)
