"""`TriageModel`: a loaded artifact that scores tweets into the output contract (DESIGN.md).

```python
from model import load_model
model = load_model("models/default")
model.score([{"id": "1", "text": "@Delta my bag never arrived, where is it?"}])
```
Labels and thresholds come from the manifest, never from constants of this code (rule 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from model.artifact import ArtifactError, read_verified_manifest
from model.backend import backend_class
from model.decisions import Decisions, Thresholds, decide
from model.dm_advice import advise_dm
from model.heads import HeadProbabilities
from model.labels import INTENT_OTHER, INTENT_TAGS, SENTIMENTS, URGENCY_LEVELS
from model.language import choose_languages
from model.language import warm_up as warm_up_language_detector
from model.normalise import normalise_tweet
from model.pii import find_pii
from model.pii import redact as redact_pii
from model.priority import PriorityPolicy, load_policy, prioritise
from model.priority_inputs import signals_from_result
from model.records import TweetRecord, parse_record

_EXPECTED_LABELS = {"intent": list(INTENT_TAGS), "sentiment": list(SENTIMENTS), "urgency": list(URGENCY_LEVELS)}


@dataclass(frozen=True)
class Labels:
    """The label sets a model was trained with, as its manifest records them."""

    intent: tuple[str, ...]
    sentiment: tuple[str, ...]
    urgency: tuple[str, ...]

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Labels:
        labels = manifest.get("labels") or {}
        for head, expected in _EXPECTED_LABELS.items():
            # The decision rules rely on the order (primary intent, score = P(pos) - P(neg)).
            if list(labels.get(head, [])) != expected:
                raise ArtifactError(f"manifest labels for {head!r} are {labels.get(head)!r}, expected {expected}")
        return cls(tuple(labels["intent"]), tuple(labels["sentiment"]), tuple(labels["urgency"]))


def _rounded(values: np.ndarray) -> list:
    return np.round(values, 4).tolist()


class TriageModel:
    """Scores tweets with one backend, the manifest's thresholds and a priority policy."""

    def __init__(self, backend, manifest: dict[str, Any], policy: PriorityPolicy | None = None):
        self.backend = backend
        self.manifest = manifest
        self.labels = Labels.from_manifest(manifest)
        self.thresholds = Thresholds.from_dict(manifest["thresholds"], self.labels.intent)
        self.policy = policy if policy is not None else load_policy()
        # Artifacts from before issue 7 were trained on English only and do not say so.
        self.languages: tuple[str, ...] = tuple(manifest.get("languages") or ("en",))
        self.thresholds_by_language = {
            lang: Thresholds.from_dict(values, self.labels.intent)
            for lang, values in (manifest.get("thresholds_by_language") or {}).items()
        }

    @property
    def version(self) -> str:
        return self.manifest["model_version"]

    def with_policy(self, policy: PriorityPolicy) -> TriageModel:
        """The same model with another priority policy (a policy reload needs no retraining)."""
        return TriageModel(self.backend, self.manifest, policy)

    def thresholds_for(self, lang: str) -> Thresholds:
        """The thresholds tuned for `lang`, else the model's default set (unsupported, `und`)."""
        return self.thresholds_by_language.get(lang, self.thresholds)

    def decide(self, probabilities: HeadProbabilities, languages: Sequence[str]) -> Decisions:
        """Decisions of a batch, each tweet with the thresholds of its language."""
        decisions = decide(probabilities, self.thresholds)
        for lang, thresholds in self.thresholds_by_language.items():
            if thresholds == self.thresholds:
                continue
            rows = np.flatnonzero(np.asarray(languages) == lang)
            if len(rows):
                part = decide(probabilities.take(rows), thresholds)
                for name in ("intent_on", "primary_intent", "urgency_level", "dm_model"):
                    getattr(decisions, name)[rows] = getattr(part, name)
        return decisions

    # -- probabilities -------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> HeadProbabilities:
        """Calibrated head probabilities of raw tweet texts (normalised here, nowhere else), each
        in its language: the one given, else the detected one, as `score` does."""
        given = list(languages) if languages is not None else [None] * len(texts)
        normalised, chosen = self._normalise(texts, given)
        return self.backend.predict_proba(normalised, chosen)

    def _normalise(self, texts: Sequence[str], given: list[str | None]) -> tuple[list[str], list[str]]:
        """Normalised texts and the language each is scored in (given, else detected)."""
        normalised = [normalise_tweet(text) for text in texts]
        return normalised, choose_languages(given, normalised, self.languages)

    # -- the output contract -------------------------------------------------------------------
    def score(
        self,
        records: Iterable[dict[str, Any] | TweetRecord],
        *,
        now: datetime | None = None,
        locale: str = "en",
        explain: bool = False,
        redact: bool = False,
    ) -> list[dict[str, Any]]:
        """Score input records (dicts as DESIGN.md describes them) into output-contract dicts.

        `explain` adds `explanation`: per head, the phrases that pushed its score most;
        `redact` adds `redacted_text`, the tweet with its personal data masked.
        Every result has `lang` (the record's `lang`, else detected; `und` when there is nothing
        to tell by) and `lang_supported` (whether the model was trained on that language).
        Raises `model.records.RecordError` for an invalid record; nothing is scored then.
        """
        parsed = [parse_record(record) for record in records]
        if not parsed:
            return []
        now = now or datetime.now(timezone.utc)
        normalised, languages = self._normalise([record.text for record in parsed], [record.lang for record in parsed])
        probabilities = self.backend.predict_proba(normalised, languages)
        decisions = self.decide(probabilities, languages)

        intent_scores = _rounded(probabilities.intent)
        sentiment_scores = _rounded(probabilities.sentiment)
        sentiment_values = _rounded(decisions.sentiment_score)
        urgency_values = _rounded(decisions.urgency_score)
        dm_values = _rounded(probabilities.dm)
        tags_on = decisions.intent_on.tolist()
        primaries = decisions.primary_intent.tolist()
        sentiment_indices = decisions.sentiment.tolist()
        urgency_levels = decisions.urgency_level.tolist()
        dm_model = decisions.dm_model.tolist()
        labels = self.labels

        results = []
        for row, record in enumerate(parsed):
            pii = find_pii(record.text)
            tags = [tag for tag, on in zip(labels.intent, tags_on[row]) if on]
            primary = labels.intent[primaries[row]] if primaries[row] >= 0 else INTENT_OTHER
            sentiment_label = labels.sentiment[sentiment_indices[row]]
            level = urgency_levels[row]
            suggest, reasons = advise_dm(
                model_suggests=dm_model[row],
                pii=pii,
                normalised_text=normalised[row],
                sentiment_score=sentiment_values[row],
                urgency_level=level,
                context=record.context,
            )
            result = {
                "id": record.id,
                "model_version": self.version,
                "lang": languages[row],
                "lang_supported": languages[row] in self.languages,
                "intent": {
                    "label": primary,
                    "tags": tags,
                    "scores": dict(zip(labels.intent, intent_scores[row])),
                },
                "sentiment": {
                    "label": sentiment_label,
                    "score": sentiment_values[row],
                    "scores": dict(zip(labels.sentiment, sentiment_scores[row])),
                },
                "urgency": {"level": level, "label": labels.urgency[level], "score": urgency_values[row]},
                "dm": {"suggest": suggest, "score": dm_values[row], "reasons": reasons},
                "pii": [span.to_dict() for span in pii],
            }
            # Ranked from the result itself, as the inbox ranks it again later (model.priority_inputs).
            result["priority"] = prioritise(signals_from_result(result, record, now), self.policy, now, locale)
            if redact:
                result["redacted_text"] = redact_pii(record.text, pii)
            results.append(result)
        if explain:
            explanations = self.backend.explain(normalised, results) if hasattr(self.backend, "explain") else None
            for result, explanation in zip(results, explanations or [{}] * len(results)):
                result["explanation"] = explanation
        return results


def fit_backend(backend, texts: Sequence[str], targets, **options):
    """Fit a backend on raw tweet texts: the normaliser is applied here, as it is when scoring."""
    return backend.fit([normalise_tweet(text) for text in texts], targets, **options)


def load_model(path: str | Path, *, policy: PriorityPolicy | None = None, runtime: str | None = None) -> TriageModel:
    """Load a model directory: verify the manifest and every hash first, then deserialise.

    `runtime` ("onnx" or "torch") overrides the runtime a transformer artifact is scored with (the
    benchmark compares both on one artifact); other backends have a single runtime.
    """
    directory = Path(path)
    manifest = read_verified_manifest(directory)
    backend_info = manifest.get("backend") or {}
    kind = backend_info.get("kind", "")
    cls = backend_class(kind)
    _check_library_versions(manifest)
    if runtime is None:
        backend = cls.load(directory, backend_info)
    elif kind == "transformer":
        backend = cls.load(directory, backend_info, runtime=runtime)
    else:
        raise ValueError(f"a runtime can only be chosen for transformer models, not {kind or 'this'} one")
    warm_up_language_detector()
    return TriageModel(backend, manifest, policy)


def _check_library_versions(manifest: dict[str, Any]) -> None:
    """Refuse scikit-learn parts pickled by another minor release: there is no supported path."""
    import sklearn

    trained = (manifest.get("versions") or {}).get("scikit-learn")
    if trained and trained.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ArtifactError(
            f"artifact was trained with scikit-learn {trained}, this environment has {sklearn.__version__}: "
            "retrain or install the matching version"
        )
