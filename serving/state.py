"""The served model: loaded aside, verified, smoke-tested, then swapped in as one reference.

`ModelHolder.current` is read once per request (the `get_model` dependency), so a request keeps
the model it started with while a reload swaps in the next one; a reload that fails at any step
leaves the current model serving. Readiness is `current is not None and not draining`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from model.heap import settle_heap
from model.priority import SUPPORTED_LOCALES, load_policy
from model.triage import TriageModel, load_model

logger = logging.getLogger("serving.state")

# Scored before a model is declared ready: English and Italian, personal data to find and mask,
# a thread and an author, with every option on, so that every code path has run once.
SMOKE_RECORDS: tuple[dict[str, Any], ...] = (
    {
        "id": "smoke-1",
        "text": "@brand my card was charged twice and nobody answers, write to me at someone@example.com",
        "created_at": "2026-01-01T09:00:00Z",
        "context": [{"author": "customer", "text": "@brand hello?"}],
        "author": {"followers": 12000, "verified": False},
        "lang": "en",
    },
    {"id": "smoke-2", "text": "Grazie mille, servizio ottimo! 😀", "lang": "it"},
)


class ReloadError(Exception):
    """A model or policy that could not be loaded; the message is one line."""


SCORE_CHUNK = 64
"""Tweets per model call: a long batch lets other requests in, and checks its deadline, between chunks."""


class BudgetExceeded(Exception):
    """The request's deadline passed before its tweets were scored."""


@dataclass(frozen=True)
class LoadedModel:
    """A model that passed every check, with what readiness and /v1/model report about it."""

    model: TriageModel
    sha256: str
    loaded_at: str
    # A model is not safe to call from two threads at once (the static-embedding tokenizer
    # raises "Already borrowed"), and routes run in a thread pool: calls take turns.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, records: list, *, deadline: float | None = None, **options: Any) -> list[dict[str, Any]]:
        """`TriageModel.score` in chunks, one thread at a time; `BudgetExceeded` past `deadline`
        (a `time.monotonic()` value), checked before each chunk and while waiting for the model."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(records), SCORE_CHUNK):
            if deadline is None:
                self._lock.acquire()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._lock.acquire(timeout=remaining):
                    raise BudgetExceeded()
            try:
                results.extend(self.model.score(records[start : start + SCORE_CHUNK], **options))
            finally:
                self._lock.release()
        return results

    @property
    def policy_info(self) -> dict[str, str]:
        return {"name": self.model.policy.name, "version": self.model.policy.version}

    def summary(self) -> dict[str, Any]:
        """The manifest summary of GET /v1/model (no paths, no training-data details)."""
        manifest = self.model.manifest
        return {
            "model_version": self.version,
            "name": manifest.get("name"),
            "backend": (manifest.get("backend") or {}).get("kind"),
            "trained_at": manifest.get("trained_at"),
            "normaliser_version": manifest.get("normaliser_version"),
            "sha256": self.sha256,
            "labels": {key: list(value) for key, value in (manifest.get("labels") or {}).items()},
            "thresholds": _finite(manifest.get("thresholds") or {}),
            "metrics": _finite(manifest.get("metrics") or {}),
            "policy": self.policy_info,
            "locales": list(SUPPORTED_LOCALES),
            "languages": list(self.model.languages),
            "loaded_at": self.loaded_at,
        }


def _finite(value: Any) -> Any:
    """JSON cannot carry NaN or infinities: report them as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest as training writes it (equal to `sha256sum manifest.json` then).

    Computed from the manifest that was verified and loaded, not re-read from disk, so it always
    describes the model in memory. The manifest lists the sha256 of every other file.
    """
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def smoke_test(model: TriageModel) -> None:
    """Score `SMOKE_RECORDS` with every option and check the results; raise `ReloadError` if wrong."""
    try:
        results = model.score(SMOKE_RECORDS, explain=True, redact=True, locale="it")
    except Exception as error:  # any failure means "not servable"; the type is enough to say why
        raise ReloadError(f"smoke test failed: {type(error).__name__} while scoring") from None
    if [result.get("id") for result in results] != [record["id"] for record in SMOKE_RECORDS]:
        raise ReloadError("smoke test failed: results do not match the inputs")
    for result in results:
        for key in ("intent", "sentiment", "urgency", "dm", "pii", "priority", "redacted_text", "explanation"):
            if key not in result:
                raise ReloadError(f"smoke test failed: result has no {key!r}")
        numbers = [*result["intent"]["scores"].values(), *result["sentiment"]["scores"].values(),
                   result["sentiment"]["score"], result["urgency"]["score"], result["dm"]["score"]]
        if not all(isinstance(number, float) and math.isfinite(number) for number in numbers):
            raise ReloadError("smoke test failed: a score is not a finite number")
        if result["model_version"] != model.version:
            raise ReloadError("smoke test failed: results name another model version")


def load_verified(model_dir: Path, policy_path: Path | None) -> LoadedModel:
    """Load a model directory and a policy aside: hashes first, then deserialise, then smoke-test.

    Raises `ReloadError` with a one-line reason for anything that goes wrong.
    """
    from model.artifact import ArtifactError
    from model.priority import PolicyError

    try:
        policy = load_policy(policy_path) if policy_path is not None else load_policy()
    except PolicyError as error:
        raise ReloadError(f"policy: {error}") from None
    except OSError as error:
        raise ReloadError(f"policy: cannot read {policy_path} ({error.strerror or type(error).__name__})") from None
    try:
        model = load_model(model_dir, policy=policy)  # verifies every sha256 before deserialising
    except ArtifactError as error:
        raise ReloadError(f"model: {error}") from None
    except Exception as error:  # a corrupt part that slipped past the hashes: still one line
        raise ReloadError(f"model: cannot load {model_dir} ({type(error).__name__})") from None
    smoke_test(model)
    loaded_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return LoadedModel(model=model, sha256=manifest_sha256(model.manifest), loaded_at=loaded_at)


class ModelHolder:
    """Holds the served model; `reload` swaps a verified replacement in, atomically."""

    def __init__(self, model_dir: Path, policy_path: Path | None = None, loaded: LoadedModel | None = None):
        self.model_dir = Path(model_dir)
        self.policy_path = policy_path
        self._current = loaded
        self._reload_lock = threading.Lock()
        self.draining = False
        self.on_swap: list = []  # callables(new: LoadedModel, old: LoadedModel | None)

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    @property
    def ready(self) -> bool:
        return self._current is not None and not self.draining

    def reload(self) -> tuple[LoadedModel, LoadedModel | None]:
        """Load, verify and smoke-test the model directory and policy, then swap them in.

        Returns (new, previous). On any failure raises `ReloadError` and the current model stays.
        Reloads run one at a time; requests are never blocked by them.
        """
        with self._reload_lock:
            started = time.perf_counter()
            loaded = load_verified(self.model_dir, self.policy_path)
            previous, self._current = self._current, loaded  # the swap: one reference assignment
            for callback in self.on_swap:
                callback(loaded, previous)
            settle_heap()  # a full collection would otherwise walk the model during some request
            logger.info(
                "model %s (sha256 %s, policy %s@%s) loaded in %.2f s",
                loaded.version, loaded.sha256[:12], loaded.policy_info["name"], loaded.policy_info["version"],
                time.perf_counter() - started,
            )
            return loaded, previous
