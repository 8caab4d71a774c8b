"""The fast linear path: one shared featuriser, logistic-regression heads, Platt calibration.

Heads:
- intent: one binary classifier per tag (complaint, question, praise), multi-label;
- sentiment: one multinomial classifier (our care tweets plus SemEval); languages named in
  `sentiment_language_weights` score with the shared weights plus their own, learned jointly by
  feature augmentation (Daume III 2007: every feature of such a language's tweets is copied into a
  block of its own, scaled by `sentiment_language_scale`, so its own weights pay more
  regularisation than the shared ones and stay near them unless its data insists);
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

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from model.distill import DistillSettings, Embedder, soft_labels, teacher_data, with_soft_rows
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
HEADS_METADATA_KEY = "outputs"
LANGUAGE_WEIGHTS = "sentiment_weights."  # + a language code: that language's own sentiment weights

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
    sentiment_language_weights: list[str] = field(default_factory=list)  # languages with their own sentiment weights
    sentiment_language_scale: float = 0.5  # their own block's scale: smaller keeps them closer to the shared weights
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


def language_augmented(X: sp.csr_matrix, languages: np.ndarray, own: Sequence[str], scale: float) -> sp.csr_matrix:
    """[X, scale * X of language 1's rows, scale * X of language 2's rows, ...]: the design matrix
    in which a language's own block can learn what the shared weights do not."""
    languages = np.asarray(languages, dtype=object)
    blocks = [X]
    for lang in own:
        mask = (languages == lang).astype(X.dtype) * scale
        blocks.append(sp.diags(mask) @ X)
    return sp.hstack(blocks, format="csr")


def _heads_layout() -> str:
    """The outputs the heads file's columns stand for, as one metadata value.

    One key, not one per output: safetensors writes its metadata from a hash map, in an order
    that changes from one process to the next, so two keys made the same weights hash
    differently (and the model version with them).
    """
    return json.dumps({"binary_outputs": list(BINARY_OUTPUTS), "sentiment": list(SENTIMENTS)}, sort_keys=True)


def _written_for_these_outputs(metadata: dict[str, str]) -> bool:
    if HEADS_METADATA_KEY in metadata:
        return metadata[HEADS_METADATA_KEY] == _heads_layout()
    # Artifacts written before the single key: one key per output kind.
    return metadata.get("binary_outputs") == ",".join(BINARY_OUTPUTS) and metadata.get("sentiment") == ",".join(SENTIMENTS)


def _fit_one(X, rows, y, weight, c, settings, solver, class_weight=None) -> LogisticRegression:
    # Rows are sliced inside the job so that the job list does not hold a copy of X per fit.
    return _regression(c, settings, solver, class_weight).fit(X[rows], y[rows], sample_weight=weight[rows])


def _fit_with_soft_rows(X, rows, y, weight, pool_rows, p, pool_weight, c, settings, solver) -> LogisticRegression:
    # The stacked matrix is built inside the job, like `_fit_one`'s slice.
    stacked, targets, weights = with_soft_rows(X, rows, y, weight, pool_rows, p, pool_weight)
    return _regression(c, settings, solver).fit(stacked, targets, sample_weight=weights)


class LinearBackend:
    """Featuriser + logistic heads. `fit` expects normalised texts; so does `predict_proba`."""

    kind = "linear"

    def __init__(self, features: FeatureSettings, heads: HeadSettings, distill: DistillSettings | None = None):
        self.features = features
        self.heads = heads
        self.distill = distill or DistillSettings()
        self.distillation_: dict = {}  # what the teacher did (for the manifest); empty without one
        self.sentiment_language_weights_: dict[str, np.ndarray] = {}  # language -> its own sentiment weights

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        targets: HeadTargets,
        *,
        static_model=None,
        teacher: Embedder | None = None,
        progress: Progress | None = None,
    ) -> LinearBackend:
        """Fit the featuriser and every head; keep out-of-fold probabilities of cross-fit rows.

        With a `[distill]` teacher, `teacher` embeds texts for it (model.distill)."""
        say = progress or (lambda message: None)
        if self.distill.teacher != "none" and teacher is None:
            raise ValueError(f"distill.teacher is {self.distill.teacher!r} but no teacher embedder was given")
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
        sentiment_languages = targets.language[sentiment_rows]
        own_languages = [lang for lang in self.heads.sentiment_language_weights if np.any(sentiment_languages == lang)]
        X_sentiment = language_augmented(X[sentiment_rows], sentiment_languages, own_languages, self.heads.sentiment_language_scale)
        class_weight = None if self.heads.sentiment_class_weight == "none" else self.heads.sentiment_class_weight
        # The longest fit goes first so that the other worker drains the small ones meanwhile.
        jobs.insert(0, delayed(_fit_one)(
            X_sentiment,
            np.arange(len(sentiment_rows)),
            targets.sentiment[sentiment_rows],
            targets.sentiment_weight[sentiment_rows],
            self.heads.c_sentiment,
            self.heads,
            self.heads.sentiment_solver,
            class_weight,
        ))
        job_keys.insert(0, ("sentiment", None, None))

        say(f"fitting {len(jobs)} logistic regressions on {self.heads.n_jobs} worker process(es)")
        # Processes, not threads: liblinear's fits hold the GIL for much of their time, so two
        # threads took 77 s where two processes take 56 s (the default recipe, this machine). joblib
        # memory-maps X for the workers instead of copying it into each job.
        fitted = Parallel(n_jobs=self.heads.n_jobs, prefer="processes")(jobs)

        self.classifiers_: dict[str, LogisticRegression] = {}
        oof_logits = {output: np.full(len(targets), np.nan) for output in BINARY_OUTPUTS}
        for (output, fold, held_out), model in zip(job_keys, fitted):
            if output == "sentiment":
                self.sentiment_classifier_ = model
            elif fold is None:
                self.classifiers_[output] = model
            else:
                oof_logits[output][held_out] = model.decision_function(X[held_out])
        if self.distill.teacher != "none":
            self._distil(texts, X, targets, teacher, job_keys, fitted, oof_logits, c_of, say)

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
        self._stack(own_languages)
        # Sentiment is not cross-fitted (a fit on 50k tweets is the costly one); its in-sample
        # probabilities fill the slot and are never used for tuning.
        self.tuning_probabilities_ = HeadProbabilities(
            intent=np.column_stack([oof_probabilities[tag] for tag in INTENT_TAGS]),
            sentiment=self.probabilities_from_features(X[self.tuning_rows_], targets.language[self.tuning_rows_]).sentiment,
            urgency=urgency_from_exceedance(np.column_stack([oof_probabilities[cut] for cut in URGENCY_CUTS])),
            dm=oof_probabilities["dm"],
        )
        return self

    def _distil(self, texts, X, targets, teacher, job_keys, fitted, oof_logits, c_of, say) -> None:
        """Refit each distilled output's fold models and full model with the teacher's soft labels
        on the pool; their out-of-fold logits replace the plain ones."""
        settings = self.distill
        labels = {output: _binary_target(targets, output) for output in settings.outputs}
        data = teacher_data(texts, labels, targets.language, settings, teacher, self.heads.seed, say)
        jobs, keys = [], []
        for (output, fold, held_out), model in zip(job_keys, fitted):
            if output not in labels:
                continue
            y = labels[output]
            rows = np.flatnonzero(y != MISSING)
            if held_out is not None:
                rows = np.setdiff1d(rows, held_out)
            pool = data.pool[output]
            p = soft_labels(data, output, rows, y, targets.weight, model.decision_function(X[pool]), settings)
            jobs.append(delayed(_fit_with_soft_rows)(
                X, rows, y, targets.weight, pool, p, settings.weight, c_of[output], self.heads, self.heads.binary_solver
            ))
            keys.append((output, held_out))
        say(f"distillation: refitting {len(jobs)} logistic regressions with the teacher's soft labels")
        for (output, held_out), model in zip(keys, Parallel(n_jobs=self.heads.n_jobs, prefer="processes")(jobs)):
            if held_out is None:
                self.classifiers_[output] = model
            else:
                oof_logits[output][held_out] = model.decision_function(X[held_out])
        self.distillation_ = {
            "teacher": settings.teacher,
            "teacher_languages": list(teacher.languages),
            "outputs": {output: {"labelled": len(data.labelled[output]), "pool": len(data.pool[output])} for output in labels},
            "weight": settings.weight,
            "teacher_c": settings.teacher_c,
            "teacher_share": settings.teacher_share,
        }

    def _stack(self, own_languages: Sequence[str]) -> None:
        """Stack every head's weights so that a batch is scored with one matrix product; the
        sentiment fit's extra blocks (one per language of `own_languages`, in order) become those
        languages' own weights."""
        self.binary_weights_ = np.column_stack(
            [self.classifiers_[output].coef_[0] for output in BINARY_OUTPUTS]
        ).astype(np.float32)
        self.binary_bias_ = np.array([self.classifiers_[output].intercept_[0] for output in BINARY_OUTPUTS])
        self.platt_slope_ = np.array([self.platt_[output][0] for output in BINARY_OUTPUTS])
        self.platt_intercept_ = np.array([self.platt_[output][1] for output in BINARY_OUTPUTS])
        classes = list(self.sentiment_classifier_.classes_)
        if classes != list(range(len(SENTIMENTS))):
            raise ValueError(f"sentiment classifier saw classes {classes}, expected all of {SENTIMENTS}")
        coef = self.sentiment_classifier_.coef_
        n_features = self.binary_weights_.shape[0]
        shared = coef[:, :n_features]
        self.sentiment_weights_ = shared.T.astype(np.float32)
        self.sentiment_bias_ = self.sentiment_classifier_.intercept_.copy()
        scale = self.heads.sentiment_language_scale
        self.sentiment_language_weights_ = {
            lang: (shared + scale * coef[:, (i + 1) * n_features : (i + 2) * n_features]).T.astype(np.float32)
            for i, lang in enumerate(own_languages)
        }

    # -- scoring -------------------------------------------------------------------------------
    def featurise(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The feature matrix of normalised texts."""
        return self.featuriser_.transform(texts)

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> HeadProbabilities:
        """Calibrated probabilities of every head for normalised texts; `languages` (one code per
        text) picks a language's own sentiment weights where it has them, else the shared ones."""
        return self.probabilities_from_features(self.featurise(texts), languages)

    def probabilities_from_features(self, X: sp.csr_matrix, languages: Sequence[str] | None = None) -> HeadProbabilities:
        logits = np.asarray(X @ self.binary_weights_, dtype=np.float64) + self.binary_bias_
        binary = expit(self.platt_slope_ * logits + self.platt_intercept_)
        sentiment_logits = np.asarray(X @ self.sentiment_weights_, dtype=np.float64) + self.sentiment_bias_
        if languages is not None and self.sentiment_language_weights_:
            languages = np.asarray(languages, dtype=object)
            for lang, weights in self.sentiment_language_weights_.items():
                rows = np.flatnonzero(languages == lang)
                if len(rows):
                    sentiment_logits[rows] = np.asarray(X[rows] @ weights, dtype=np.float64) + self.sentiment_bias_
        return head_probabilities(binary, sentiment_logits)

    def contributions(self, X: sp.csr_matrix, row: int, head: str, lang: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and logit contributions of one tweet's features to one output.

        `head` is a binary output name (see `BINARY_OUTPUTS`) or `sentiment:<label>`; `lang` the
        tweet's language (its own sentiment weights, where it has them).
        """
        vector = X.getrow(row)
        if head.startswith("sentiment:"):
            column = SENTIMENTS.index(head.split(":", 1)[1])
            weights = self.sentiment_language_weights_.get(lang, self.sentiment_weights_)[:, column]
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
                **{f"{LANGUAGE_WEIGHTS}{lang}": weights for lang, weights in self.sentiment_language_weights_.items()},
            },
            directory / HEADS_FILE,
            metadata={HEADS_METADATA_KEY: _heads_layout()},
        )
        return [*written, HEADS_FILE]

    def describe(self) -> dict:
        """What the manifest records about this backend."""
        return {
            "kind": self.kind,
            "features": asdict(self.features),
            "heads": asdict(self.heads),
            "feature_count": int(self.binary_weights_.shape[0]),
            "sentiment_languages": sorted(self.sentiment_language_weights_),
            **({"distillation": self.distillation_} if self.distillation_ else {}),
        }

    @classmethod
    def load(cls, directory: Path, description: dict) -> LinearBackend:
        """Rebuild a backend from `save`'s files (the caller has verified their hashes)."""
        from safetensors import safe_open

        backend = cls(FeatureSettings(**description["features"]), HeadSettings(**description["heads"]))
        backend.featuriser_ = TweetFeaturiser.load(directory, backend.features)
        with safe_open(directory / HEADS_FILE, framework="numpy") as heads:
            if not _written_for_these_outputs(heads.metadata() or {}):
                raise ValueError("the heads file was written for other outputs than this code scores")
            for name in heads.keys():
                if name.startswith(LANGUAGE_WEIGHTS):
                    backend.sentiment_language_weights_[name.removeprefix(LANGUAGE_WEIGHTS)] = heads.get_tensor(name)
                else:
                    setattr(backend, f"{name}_", heads.get_tensor(name))
        shapes = {backend.binary_weights_.shape[0], backend.sentiment_weights_.shape[0]}
        shapes |= {weights.shape[0] for weights in backend.sentiment_language_weights_.values()}
        if shapes != {backend.featuriser_.transform(["ok"]).shape[1]}:
            raise ValueError("the heads do not match the featuriser: the artifact is inconsistent")
        return backend
