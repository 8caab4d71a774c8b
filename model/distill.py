"""Distillation: a sentence-embedding teacher passes its judgement to the linear heads through
unlabelled tweets, so the fast path learns from it and still scores without it.

The teacher of an output (say `complaint`) is a logistic regression on frozen MiniLM sentence
embeddings of the labelled tweets in the teacher's languages, averaged with the linear head's own
probability (`teacher_share` of the embedding side). It labels a pool of tweets that have no label
for that output (SemEval and TWCS tweets: English rows the output's data leave unlabelled) with soft
labels p; each pool tweet then joins the head's training data twice, as a positive weighted
`weight * p` and as a negative weighted `weight * (1 - p)`. The head is refitted on those rows and
scores as before: one sparse dot product, no encoder at scoring time.

Cross-fitting stays honest: the teacher of each fold sees only that fold's training rows, so the
out-of-fold predictions that calibrate the head and tune its thresholds never profit from their own
labels through the teacher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from model.heads import BINARY_OUTPUTS, MISSING

TEACHERS = ("none", "minilm")


@dataclass(frozen=True)
class DistillSettings:
    """The recipe's `[distill]`: which outputs learn from which teacher, through how many tweets."""

    teacher: str = "none"  # "none", or "minilm": frozen all-MiniLM-L6-v2 embeddings + logistic regression
    outputs: list[str] = field(default_factory=lambda: ["complaint"])  # binary outputs that learn from it
    pool_size: int = 20000  # unlabelled tweets drawn for the soft labels (0: every one)
    weight: float = 1.0  # weight of a pool tweet (split between its positive and negative copies)
    teacher_c: float = 4.0  # inverse regularisation of the embedding-side logistic regression
    teacher_share: float = 0.5  # the embedding side's share of the soft label (the rest: the linear head's)

    def __post_init__(self) -> None:
        if self.teacher not in TEACHERS:
            raise ValueError(f"distill.teacher must be one of {', '.join(TEACHERS)}, not {self.teacher!r}")
        if not 0.0 <= self.teacher_share <= 1.0:
            raise ValueError("distill.teacher_share must lie between 0 and 1")
        unknown = [output for output in self.outputs if output not in BINARY_OUTPUTS]
        if unknown or len(set(self.outputs)) != len(self.outputs):
            raise ValueError(f"distill.outputs must be distinct binary outputs among {', '.join(BINARY_OUTPUTS)}")
        if self.weight <= 0 or self.teacher_c <= 0 or self.pool_size < 0:
            raise ValueError("distill.weight and distill.teacher_c must be positive, distill.pool_size at least 0")


class Embedder(Protocol):
    """What a teacher needs: l2-normalised sentence embeddings of normalised texts."""

    languages: tuple[str, ...]

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class TeacherData:
    """Embeddings of the rows a teacher learns from and of the pool it labels."""

    labelled: dict[str, np.ndarray]  # output -> rows (training-set indices) the teacher may learn from
    pool: dict[str, np.ndarray]  # output -> pool rows (no label for that output)
    rows: np.ndarray  # training-set rows embedded, sorted
    vectors: np.ndarray  # their embeddings, in that order

    def embeddings(self, rows: np.ndarray) -> np.ndarray:
        return self.vectors[np.searchsorted(self.rows, rows)]


def teacher_data(
    texts: Sequence[str],
    labels: dict[str, np.ndarray],
    languages: np.ndarray,
    settings: DistillSettings,
    embedder: Embedder,
    seed: int,
    say: Callable[[str], None],
) -> TeacherData:
    """Choose each output's labelled rows and pool (tweets in the embedder's languages) and embed
    them once. The pool is drawn at random (`seed`) among the rows without that output's label."""
    rng = np.random.default_rng(seed)
    known = np.isin(languages, embedder.languages)
    labelled, pool = {}, {}
    for output in settings.outputs:
        y = labels[output]
        labelled[output] = np.flatnonzero(known & (y != MISSING))
        candidates = np.flatnonzero(known & (y == MISSING))
        if settings.pool_size and len(candidates) > settings.pool_size:
            candidates = np.sort(rng.choice(candidates, settings.pool_size, replace=False))
        pool[output] = candidates
    rows = np.unique(np.concatenate([*labelled.values(), *pool.values()]))
    say(f"distillation: embedding {len(rows)} tweets for the {settings.teacher} teacher "
        f"({', '.join(f'{output}: {len(labelled[output])} labelled, {len(pool[output])} pool' for output in settings.outputs)})")
    vectors = np.asarray(embedder([texts[row] for row in rows]), dtype=np.float32)
    return TeacherData(labelled, pool, rows, vectors)


def soft_labels(
    data: TeacherData,
    output: str,
    train_rows: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    linear_pool_logits: np.ndarray,
    settings: DistillSettings,
) -> np.ndarray:
    """The teacher's probability for each pool tweet, the teacher having learnt from `train_rows` only."""
    rows = np.intersect1d(train_rows, data.labelled[output])
    embedding_side = LogisticRegression(C=settings.teacher_c, max_iter=2000).fit(
        data.embeddings(rows), y[rows], sample_weight=weight[rows]
    )
    p_embedding = embedding_side.predict_proba(data.embeddings(data.pool[output]))[:, 1]
    return settings.teacher_share * p_embedding + (1.0 - settings.teacher_share) * expit(linear_pool_logits)


def with_soft_rows(X: sp.csr_matrix, train_rows: np.ndarray, y: np.ndarray, weight: np.ndarray,
                   pool_rows: np.ndarray, p: np.ndarray, pool_weight: float):
    """(X, y, weight) of the training rows plus every pool tweet as a weighted positive and negative."""
    X_pool = X[pool_rows]
    stacked = sp.vstack([X[train_rows], X_pool, X_pool], format="csr")
    targets = np.concatenate([y[train_rows], np.ones(len(pool_rows), dtype=int), np.zeros(len(pool_rows), dtype=int)])
    weights = np.concatenate([weight[train_rows], pool_weight * p, pool_weight * (1.0 - p)])
    return stacked, targets, weights
