"""The ensemble: the linear path and the transformer path, their probabilities mixed per head.

P(head) = w_head * P_transformer + (1 - w_head) * P_linear, one weight per head (intent, sentiment,
urgency, DM), chosen on validation: the transformer's held-out slice of care/train
(`model.transformer.holdout_rows`), which neither member is trained on. The linear member is
fitted here, on the training rows outside that slice; the transformer member is a trained
transformer artifact named by the recipe (verified by its hashes, recorded by its version), whose
ONNX files are copied into this artifact. A mix of calibrated probabilities stays close to
calibrated, and the thresholds are tuned on the mixed probabilities of the slice.

Languages. The transformer member knows the languages it was trained on (MiniLM: English); the
linear member can know more (the default recipe's Italian). Tweets in a language only the linear
member knows are scored by it alone, and that language's thresholds are tuned on the linear
member's own out-of-fold predictions of its training rows (`linear_only_languages` in the manifest).

Artifact layout: `linear/...` and `transformer/...` hold each member's files (hashed, like every
file, by the ensemble's manifest); the manifest's `backend` records each member's description and
the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from model.heads import HeadProbabilities, HeadTargets

HEADS = ("intent", "sentiment", "urgency", "dm")
MEMBERS = ("linear", "transformer")
Progress = Callable[[str], None]
_EPS = 1e-7


def mix(linear: HeadProbabilities, transformer: HeadProbabilities, weights: dict[str, float]) -> HeadProbabilities:
    """Per head, `weights[head]` of the transformer's probabilities and the rest of the linear's."""
    return HeadProbabilities(
        **{head: weights[head] * getattr(transformer, head) + (1 - weights[head]) * getattr(linear, head) for head in HEADS}
    )


def head_log_loss(probabilities: HeadProbabilities, head: str, targets: HeadTargets, rows: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels of `rows` under one head's probabilities."""
    values = np.clip(getattr(probabilities, head), _EPS, 1 - _EPS)
    if head == "intent":
        truth = np.column_stack([targets.intent(tag)[rows] for tag in ("complaint", "question", "praise")])
        return float(-np.mean(truth * np.log(values) + (1 - truth) * np.log(1 - values)))
    if head == "dm":
        truth = targets.dm[rows]
        return float(-np.mean(truth * np.log(values) + (1 - truth) * np.log(1 - values)))
    truth = getattr(targets, head)[rows]
    return float(-np.mean(np.log(values[np.arange(len(rows)), truth])))


def choose_weights(
    linear: HeadProbabilities, transformer: HeadProbabilities, targets: HeadTargets, rows: np.ndarray, step: float
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The transformer's share per head with the lowest log-loss on `rows` (a grid of `step`), and
    the log-loss of each member alone and of the mix, for the manifest."""
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 6)
    weights, losses = {}, {}
    for head in HEADS:
        scores = [head_log_loss(mix(linear, transformer, {h: w for h in HEADS}), head, targets, rows) for w in grid]
        best = int(np.argmin(scores))
        weights[head] = float(grid[best])
        losses[head] = {"linear": round(scores[0], 4), "transformer": round(scores[-1], 4), "ensemble": round(scores[best], 4)}
    return weights, losses


def subset_targets(targets: HeadTargets, rows: np.ndarray) -> HeadTargets:
    """The targets of some rows only."""
    return HeadTargets(
        **{name: getattr(targets, name)[rows] for name in ("complaint", "question", "praise", "sentiment", "urgency", "dm")},
        weight=targets.weight[rows],
        cross_fit=targets.cross_fit[rows],
        sentiment_weight=targets.sentiment_weight[rows],
        language=targets.language[rows],
    )


class EnsembleBackend:
    """A linear and a transformer member; `predict_proba` mixes their probabilities per head."""

    kind = "ensemble"

    def __init__(self, members: dict, weights: dict[str, float], info: dict | None = None):
        self.members = members
        self.weights = weights
        self.info = dict(info or {})

    @classmethod
    def untrained(cls, linear, transformer_model: str, weight_step: float) -> EnsembleBackend:
        """Before `fit`: an unfitted linear backend and the path of a trained transformer model."""
        return cls({"linear": linear}, {}, {"transformer_model": str(transformer_model), "weight_step": weight_step})

    def fit(self, texts: Sequence[str], targets: HeadTargets, *, progress: Progress | None = None, **options) -> EnsembleBackend:
        """Load the transformer member, fit the linear one outside its held-out slice, choose the weights."""
        from model.artifact import ArtifactError, read_verified_manifest
        from model.transformer import TransformerBackend, holdout_rows

        say = progress or (lambda message: None)
        path = Path(self.info["transformer_model"])
        manifest = read_verified_manifest(path)
        description = manifest.get("backend") or {}
        if description.get("kind") != "transformer" or "holdout" not in description:
            raise ArtifactError(f"{path} is not a trained transformer model")
        say(f"transformer member: {path} ({manifest['model_version']})")
        transformer = TransformerBackend.load(path, description, runtime="onnx").without_torch_weights()

        transformer_languages = list(manifest.get("languages") or ["en"])
        # The slice is chosen by a hash of each text among the care tweets in the transformer's
        # languages, so a tweet held out here was held out there too, or was not in its data at all.
        eligible = targets.cross_fit & np.isin(targets.language, transformer_languages)
        holdout = holdout_rows(texts, eligible, description["holdout"]["share"])
        if len(holdout) == 0:
            raise ArtifactError(
                f"none of the training tweets falls in the held-out slice of {path} "
                f"(care tweets in {', '.join(transformer_languages)}): nothing to choose the weights on"
            )
        training = np.setdiff1d(np.arange(len(texts)), holdout)
        say(f"fitting the linear member on {len(training)} tweets (the {len(holdout)} held-out ones left out; "
            f"the transformer held out {description['holdout']['rows']})")
        linear = self.members["linear"].fit([texts[row] for row in training], subset_targets(targets, training), progress=say, **options)

        holdout_texts = [texts[row] for row in holdout]
        linear_probabilities = linear.predict_proba(holdout_texts, targets.language[holdout])
        transformer_probabilities = transformer.predict_proba(holdout_texts)
        weights, losses = choose_weights(
            linear_probabilities, transformer_probabilities, targets, holdout, self.info["weight_step"]
        )
        say(f"ensemble weights (transformer share) {weights}; held-out log-loss {losses}")
        tuning_rows = [holdout]
        tuning_probabilities = [mix(linear_probabilities, transformer_probabilities, weights)]
        linear_only = sorted(set(targets.language[targets.cross_fit].tolist()) - set(transformer_languages))
        if linear_only:
            # Those languages' rows are scored by the linear member alone: tune on its out-of-fold
            # predictions of them (its tuning rows index the training rows it was given).
            own_rows = training[linear.tuning_rows_]
            keep = np.flatnonzero(np.isin(targets.language[own_rows], linear_only))
            tuning_rows.append(own_rows[keep])
            tuning_probabilities.append(linear.tuning_probabilities_.take(keep))
            say(f"languages the transformer does not know, scored by the linear member alone: {', '.join(linear_only)} "
                f"({len(keep)} out-of-fold tweets to tune their thresholds)")
        self.members = {"linear": linear, "transformer": transformer}
        self.weights = weights
        self.info.update(
            transformer_version=manifest["model_version"],
            transformer_training_seconds=manifest.get("training_seconds"),
            transformer_languages=transformer_languages,
            linear_only_languages=linear_only,
            holdout={"share": description["holdout"]["share"], "rows": int(len(holdout)),
                     "transformer_rows": int(description["holdout"]["rows"])},
            holdout_log_loss=losses,
        )
        self.tuning_rows_ = np.concatenate(tuning_rows)
        self.tuning_probabilities_ = HeadProbabilities.concatenate(tuning_probabilities)
        return self

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> HeadProbabilities:
        """Mixed probabilities of normalised texts (`languages`: see `LinearBackend.predict_proba`);
        a tweet in one of `linear_only_languages` gets the linear member's alone."""
        linear = self.members["linear"].predict_proba(texts, languages)
        linear_only = self.info.get("linear_only_languages") or []
        alone = np.zeros(len(texts), dtype=bool)
        if languages is not None and linear_only:
            alone = np.isin(np.asarray(languages, dtype=object), linear_only)
        if not alone.any():
            return mix(linear, self.members["transformer"].predict_proba(texts, languages), self.weights)
        parts = {head: getattr(linear, head).copy() for head in HEADS}
        mixed = np.flatnonzero(~alone)
        if len(mixed):
            chosen = mix(
                linear.take(mixed),
                self.members["transformer"].predict_proba([texts[row] for row in mixed]),
                self.weights,
            )
            for head in HEADS:
                parts[head][mixed] = getattr(chosen, head)
        return HeadProbabilities(**parts)

    def explain(self, texts: Sequence[str], results: list[dict]) -> list[dict]:
        """The linear member's explanations (`LinearBackend.explain`): the phrases that pushed its
        share of each score; a transformer gives no phrases to show."""
        return self.members["linear"].explain(texts, results)

    def save(self, directory: Path) -> list[str]:
        written = []
        for name in MEMBERS:
            (directory / name).mkdir(exist_ok=True)
            written += [f"{name}/{path}" for path in self.members[name].save(directory / name)]
        return written

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "weights": self.weights,
            "members": {name: self.members[name].describe() for name in MEMBERS},
            **self.info,
        }

    @classmethod
    def load(cls, directory: Path, description: dict) -> EnsembleBackend:
        """Load each member from its subdirectory (hashes verified by the caller)."""
        from model.backend import backend_class

        members = {}
        for name in MEMBERS:
            member = description["members"][name]
            members[name] = backend_class(member["kind"]).load(directory / name, member)
        info = {key: value for key, value in description.items() if key not in ("kind", "weights", "members")}
        return cls(members, {head: float(description["weights"][head]) for head in HEADS}, info)
