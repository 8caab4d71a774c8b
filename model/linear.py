"""The fast linear path: one shared featuriser, logistic-regression heads, Platt calibration.

Heads:
- intent: one binary classifier per tag (complaint, question, praise), multi-label;
- sentiment: one multinomial classifier (our care tweets plus SemEval);
- urgency: ordered levels as three cumulative binary problems P(level > k) (Frank & Hall 2001);
- dm: one binary classifier.

Binary heads are cross-fitted on our labelled care tweets: the out-of-fold decision values train a
Platt calibrator per head and are kept (`tuning_probabilities_` of `tuning_rows_`) so that
training can tune decision thresholds on predictions the model did not see while fitting. Extra sources (complaints, SemEval,
weak DM labels) are always training data, never in a held-out fold.

At scoring time every head is one column of a stacked weight matrix: a batch costs one sparse
matrix product, which is what keeps the path above 5,000 tweets/s on two cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from model.features import FeatureSettings, TweetFeaturiser
from model.heads import (
    BINARY_OUTPUTS,
    MISSING,
    URGENCY_CUTS,
    HeadProbabilities,
    HeadTargets,
    head_probabilities,
    urgency_from_exceedance,
)
from model.labels import INTENT_TAGS, SENTIMENTS

HEADS_FILE = "heads.safetensors"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class HeadSettings:
    """Regularisation and fitting of the heads (the recipe's `[heads]`)."""

    c_intent: float = 3.0
    c_sentiment: float = 1.0
    c_urgency: float = 3.0
    c_dm: float = 3.0
    sentiment_class_weight: str = "none"  # "none" keeps probabilities calibrated; "balanced" favours recall
    binary_solver: str = "liblinear"  # fastest on a few thousand sparse rows
    sentiment_solver: str = "saga"  # lbfgs needs ~6x longer on 50k rows with dense embedding columns
    cross_fit_folds: int = 5
    max_iter: int = 1000
    seed: int = 13
    n_jobs: int = 2


def _regression(c: float, settings: HeadSettings, solver: str, class_weight=None) -> LogisticRegression:
    return LogisticRegression(
        C=c, max_iter=settings.max_iter, class_weight=class_weight, solver=solver, random_state=settings.seed
    )


def _binary_target(targets: HeadTargets, output: str) -> np.ndarray:
    """The 0/1 target of a binary output, MISSING where unlabelled."""
    if output.startswith("urgency_gt"):
        level = int(output[-1])
        return np.where(targets.urgency == MISSING, MISSING, (targets.urgency > level).astype(int))
    return getattr(targets, output)


def _fit_one(X, rows, y, weight, c, settings, solver, class_weight=None) -> LogisticRegression:
    # Rows are sliced inside the job so that the job list does not hold a copy of X per fit.
    return _regression(c, settings, solver, class_weight).fit(X[rows], y[rows], sample_weight=weight[rows])


class LinearBackend:
    """Featuriser + logistic heads. `fit` expects normalised texts; so does `predict_proba`."""

    kind = "linear"

    def __init__(self, features: FeatureSettings, heads: HeadSettings):
        self.features = features
        self.heads = heads

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        targets: HeadTargets,
        *,
        static_model=None,
        progress: Progress | None = None,
    ) -> LinearBackend:
        """Fit the featuriser and every head; keep out-of-fold probabilities of cross-fit rows."""
        say = progress or (lambda message: None)
        say("fitting the featuriser")
        self.featuriser_ = TweetFeaturiser(self.features).fit(texts, static_model=static_model)
        say("featurising the training texts")
        X = self.featuriser_.transform(texts)

        c_of = {tag: self.heads.c_intent for tag in INTENT_TAGS}
        c_of.update({cut: self.heads.c_urgency for cut in URGENCY_CUTS}, dm=self.heads.c_dm)
        jobs, job_keys = [], []
        binary_solver = self.heads.binary_solver
        folds = StratifiedKFold(self.heads.cross_fit_folds, shuffle=True, random_state=self.heads.seed)
        for output in BINARY_OUTPUTS:
            y = _binary_target(targets, output)
            labelled = y != MISSING
            cross = np.flatnonzero(labelled & targets.cross_fit)
            always = np.flatnonzero(labelled & ~targets.cross_fit)
            for fold, (train_part, held_out) in enumerate(folds.split(cross, y[cross])):
                rows = np.concatenate([cross[train_part], always])
                jobs.append(delayed(_fit_one)(X, rows, y, targets.weight, c_of[output], self.heads, binary_solver))
                job_keys.append((output, fold, cross[held_out]))
            rows = np.flatnonzero(labelled)
            jobs.append(delayed(_fit_one)(X, rows, y, targets.weight, c_of[output], self.heads, binary_solver))
            job_keys.append((output, None, None))

        sentiment_rows = np.flatnonzero(targets.sentiment != MISSING)
        class_weight = None if self.heads.sentiment_class_weight == "none" else self.heads.sentiment_class_weight
        # The longest fit goes first so that the other worker drains the small ones meanwhile.
        jobs.insert(0, delayed(_fit_one)(
            X,
            sentiment_rows,
            targets.sentiment,
            targets.sentiment_weight,
            self.heads.c_sentiment,
            self.heads,
            self.heads.sentiment_solver,
            class_weight,
        ))
        job_keys.insert(0, ("sentiment", None, None))

        say(f"fitting {len(jobs)} logistic regressions on {self.heads.n_jobs} worker(s)")
        fitted = Parallel(n_jobs=self.heads.n_jobs, prefer="threads")(jobs)

        self.classifiers_: dict[str, LogisticRegression] = {}
        oof_logits = {output: np.full(len(targets), np.nan) for output in BINARY_OUTPUTS}
        for (output, fold, held_out), model in zip(job_keys, fitted):
            if output == "sentiment":
                self.sentiment_classifier_ = model
            elif fold is None:
                self.classifiers_[output] = model
            else:
                oof_logits[output][held_out] = model.decision_function(X[held_out])

        say("calibrating the binary heads on out-of-fold predictions")
        self.platt_: dict[str, tuple[float, float]] = {}
        self.tuning_rows_ = np.flatnonzero(targets.cross_fit)
        oof_probabilities = {}
        for output in BINARY_OUTPUTS:
            y = _binary_target(targets, output)
            rows = np.flatnonzero(~np.isnan(oof_logits[output]))
            calibrator = LogisticRegression(C=1e4).fit(oof_logits[output][rows, None], y[rows])
            self.platt_[output] = (float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0]))
            slope, intercept = self.platt_[output]
            logits = oof_logits[output][self.tuning_rows_]
            oof_probabilities[output] = expit(slope * np.nan_to_num(logits) + intercept)
        self._stack()
        # Sentiment is not cross-fitted (a fit on 50k tweets is the costly one); its in-sample
        # probabilities fill the slot and are never used for tuning.
        self.tuning_probabilities_ = HeadProbabilities(
            intent=np.column_stack([oof_probabilities[tag] for tag in INTENT_TAGS]),
            sentiment=self.sentiment_classifier_.predict_proba(X[self.tuning_rows_]),
            urgency=urgency_from_exceedance(np.column_stack([oof_probabilities[cut] for cut in URGENCY_CUTS])),
            dm=oof_probabilities["dm"],
        )
        return self

    def _stack(self) -> None:
        """Stack every head's weights so that a batch is scored with one matrix product."""
        self.binary_weights_ = np.column_stack(
            [self.classifiers_[output].coef_[0] for output in BINARY_OUTPUTS]
        ).astype(np.float32)
        self.binary_bias_ = np.array([self.classifiers_[output].intercept_[0] for output in BINARY_OUTPUTS])
        self.platt_slope_ = np.array([self.platt_[output][0] for output in BINARY_OUTPUTS])
        self.platt_intercept_ = np.array([self.platt_[output][1] for output in BINARY_OUTPUTS])
        classes = list(self.sentiment_classifier_.classes_)
        if classes != list(range(len(SENTIMENTS))):
            raise ValueError(f"sentiment classifier saw classes {classes}, expected all of {SENTIMENTS}")
        self.sentiment_weights_ = self.sentiment_classifier_.coef_.T.astype(np.float32)
        self.sentiment_bias_ = self.sentiment_classifier_.intercept_.copy()

    # -- scoring -------------------------------------------------------------------------------
    def featurise(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The feature matrix of normalised texts."""
        return self.featuriser_.transform(texts)

    def predict_proba(self, texts: Sequence[str]) -> HeadProbabilities:
        """Calibrated probabilities of every head for normalised texts."""
        return self.probabilities_from_features(self.featurise(texts))

    def probabilities_from_features(self, X: sp.csr_matrix) -> HeadProbabilities:
        logits = np.asarray(X @ self.binary_weights_, dtype=np.float64) + self.binary_bias_
        binary = expit(self.platt_slope_ * logits + self.platt_intercept_)
        sentiment_logits = np.asarray(X @ self.sentiment_weights_, dtype=np.float64) + self.sentiment_bias_
        return head_probabilities(binary, sentiment_logits)

    def contributions(self, X: sp.csr_matrix, row: int, head: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and logit contributions of one tweet's features to one output.

        `head` is a binary output name (see `BINARY_OUTPUTS`) or `sentiment:<label>`.
        """
        vector = X.getrow(row)
        if head.startswith("sentiment:"):
            column = SENTIMENTS.index(head.split(":", 1)[1])
            weights = self.sentiment_weights_[:, column]
        else:
            weights = self.binary_weights_[:, BINARY_OUTPUTS.index(head)]
        return vector.indices, vector.data * weights[vector.indices]

    def explain(self, texts: Sequence[str], results: list[dict]) -> list[dict]:
        """Per result, the phrases of the (normalised) tweet that pushed each head most."""
        from model.explain import explain_batch

        return explain_batch(self, list(texts), results)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> list[str]:
        """Write the fitted backend into `directory`; return the relative paths written.

        The heads are their weights, biases and Platt parameters as safetensors: loading them
        deserialises arrays, never objects.
        """
        from safetensors.numpy import save_file

        written = self.featuriser_.save(directory)
        save_file(
            {
                "binary_weights": self.binary_weights_,
                "binary_bias": self.binary_bias_,
                "platt_slope": self.platt_slope_,
                "platt_intercept": self.platt_intercept_,
                "sentiment_weights": self.sentiment_weights_,
                "sentiment_bias": self.sentiment_bias_,
            },
            directory / HEADS_FILE,
            metadata={"binary_outputs": ",".join(BINARY_OUTPUTS), "sentiment": ",".join(SENTIMENTS)},
        )
        return [*written, HEADS_FILE]

    def describe(self) -> dict:
        """What the manifest records about this backend."""
        return {
            "kind": self.kind,
            "features": asdict(self.features),
            "heads": asdict(self.heads),
            "feature_count": int(self.binary_weights_.shape[0]),
        }

    @classmethod
    def load(cls, directory: Path, description: dict) -> LinearBackend:
        """Rebuild a backend from `save`'s files (the caller has verified their hashes)."""
        from safetensors import safe_open

        backend = cls(FeatureSettings(**description["features"]), HeadSettings(**description["heads"]))
        backend.featuriser_ = TweetFeaturiser.load(directory, backend.features)
        with safe_open(directory / HEADS_FILE, framework="numpy") as heads:
            metadata = heads.metadata() or {}
            if metadata.get("binary_outputs") != ",".join(BINARY_OUTPUTS) or metadata.get("sentiment") != ",".join(SENTIMENTS):
                raise ValueError("the heads file was written for other outputs than this code scores")
            for name in heads.keys():
                setattr(backend, f"{name}_", heads.get_tensor(name))
        if backend.binary_weights_.shape[0] != backend.featuriser_.transform(["ok"]).shape[1]:
            raise ValueError("the heads do not match the featuriser: the artifact is inconsistent")
        return backend
