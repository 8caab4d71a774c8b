"""Probabilities -> decisions, with the thresholds stored in the artifact's manifest.

Nothing here is learned: thresholds are tuned at training time (`training/thresholds.py`) and read
from the manifest at load time, so a model always decides the way it was validated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from model.heads import HeadProbabilities, urgency_score


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of a model.

    intent:        per tag, a tag is on when P(tag) >= its threshold;
    urgency_cuts:  three increasing cut points on the urgency score: level = number of cuts <= score;
    dm:            the model suggests a DM when P(dm) >= this.
    """

    intent: tuple[float, ...]
    urgency_cuts: tuple[float, float, float]
    dm: float

    def __post_init__(self) -> None:
        if list(self.urgency_cuts) != sorted(self.urgency_cuts):
            raise ValueError("urgency cut points must be increasing")

    def to_dict(self, intent_tags: tuple[str, ...]) -> dict[str, Any]:
        return {
            "intent": {tag: round(value, 6) for tag, value in zip(intent_tags, self.intent)},
            "urgency_cuts": [round(value, 6) for value in self.urgency_cuts],
            "dm": round(self.dm, 6),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], intent_tags: tuple[str, ...]) -> Thresholds:
        return cls(
            intent=tuple(float(data["intent"][tag]) for tag in intent_tags),
            urgency_cuts=tuple(float(value) for value in data["urgency_cuts"]),
            dm=float(data["dm"]),
        )


@dataclass(frozen=True)
class Decisions:
    """Vectorised decisions for a batch of n tweets."""

    intent_on: np.ndarray  # (n, tags) bool
    primary_intent: np.ndarray  # (n,) index into the tags, or -1 for "other"
    sentiment: np.ndarray  # (n,) index into the sentiment labels
    sentiment_score: np.ndarray  # (n,) P(positive) - P(negative)
    urgency_level: np.ndarray  # (n,) 0..3
    urgency_score: np.ndarray  # (n,) in [0, 1]
    dm_model: np.ndarray  # (n,) bool: what the DM head alone says


def urgency_levels(scores: np.ndarray, cuts: tuple[float, ...]) -> np.ndarray:
    """Level of each urgency score given increasing cut points."""
    return np.searchsorted(np.asarray(cuts), scores, side="right")


def primary_intents(intent_on: np.ndarray) -> np.ndarray:
    """Index of the first tag that is on (tags are in priority order), -1 when none is."""
    first = intent_on.argmax(axis=1)
    return np.where(intent_on.any(axis=1), first, -1)


def decide(probabilities: HeadProbabilities, thresholds: Thresholds) -> Decisions:
    """Apply the thresholds to a batch of probabilities."""
    intent_on = probabilities.intent >= np.asarray(thresholds.intent)
    scores = urgency_score(probabilities.urgency)
    return Decisions(
        intent_on=intent_on,
        primary_intent=primary_intents(intent_on),
        sentiment=probabilities.sentiment.argmax(axis=1),
        sentiment_score=probabilities.sentiment[:, -1] - probabilities.sentiment[:, 0],
        urgency_level=urgency_levels(scores, thresholds.urgency_cuts),
        urgency_score=scores,
        dm_model=probabilities.dm >= thresholds.dm,
    )
