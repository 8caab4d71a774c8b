"""The ensemble: the linear path and the transformer path, their probabilities mixed per head.

P(head) = w_head * P_transformer + (1 - w_head) * P_linear, one weight per head (intent, sentiment,
urgency, DM), chosen on validation: the transformer's held-out slice of care/train
(`model.transformer.holdout_rows`), which neither member is trained on. The linear member is
fitted here, on the training rows outside that slice; the transformer member is a trained
transformer artifact named by the recipe (verified by its hashes, recorded by its version), whose
ONNX files are copied into this artifact. A mix of calibrated probabilities stays close to
calibrated, and the thresholds are tuned on the mixed probabilities of the slice.

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

        holdout = holdout_rows(texts, targets.cross_fit, description["holdout"]["share"])
        if len(holdout) != description["holdout"]["rows"]:
            raise ArtifactError(
                f"the held-out slice has {len(holdout)} tweets here but {description['holdout']['rows']} in {path}: "
                "the two were trained on different data"
            )
        training = np.setdiff1d(np.arange(len(texts)), holdout)
        say(f"fitting the linear member on {len(training)} tweets (the {len(holdout)} held-out ones left out)")
        linear = self.members["linear"].fit([texts[row] for row in training], subset_targets(targets, training), progress=say, **options)

        holdout_texts = [texts[row] for row in holdout]
        linear_probabilities = linear.predict_proba(holdout_texts, targets.language[holdout])
        transformer_probabilities = transformer.predict_proba(holdout_texts)
        weights, losses = choose_weights(
            linear_probabilities, transformer_probabilities, targets, holdout, self.info["weight_step"]
        )
        say(f"ensemble weights (transformer share) {weights}; held-out log-loss {losses}")
        self.members = {"linear": linear, "transformer": transformer}
        self.weights = weights
        self.info.update(
            transformer_version=manifest["model_version"],
            transformer_training_seconds=manifest.get("training_seconds"),
            holdout={"share": description["holdout"]["share"], "rows": int(len(holdout))},
            holdout_log_loss=losses,
        )
        self.tuning_rows_ = holdout
        self.tuning_probabilities_ = mix(linear_probabilities, transformer_probabilities, weights)
        return self

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> HeadProbabilities:
        """Mixed probabilities of normalised texts (`languages`: see `LinearBackend.predict_proba`)."""
        return mix(
            self.members["linear"].predict_proba(texts, languages),
            self.members["transformer"].predict_proba(texts, languages),
            self.weights,
        )

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
