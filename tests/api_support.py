"""Helpers for the API tests: apps built around a real or a scripted model, and a scripted backend.

`KeywordBackend` is a stand-in backend with predictable probabilities, wrapped in the real
`TriageModel` (decisions, DM advice, priority policy, PII and output contract all real), so that
priority and limit tests do not depend on what a small trained model happens to predict.
`GatedBackend` blocks inside the model until the test opens its gate: requests "in flight".
"""

from __future__ import annotations

import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from model.heads import HeadProbabilities
from model.triage import TriageModel
from serving.app import create_app
from serving.settings import Settings, key_digest
from serving.state import LoadedModel, ModelHolder, load_verified, manifest_sha256

CLIENT_KEY = "client-key-0123456789abcdef"
OTHER_CLIENT_KEY = "other-client-key-0123456789"
ADMIN_KEY = "admin-key-0123456789abcdef"

STUB_MANIFEST: dict[str, Any] = {
    "model_version": "stub-1",
    "name": "stub",
    "backend": {"kind": "stub"},
    "trained_at": "2026-11-23T00:00:00Z",
    "normaliser_version": 1,
    "labels": {
        "intent": ["complaint", "question", "praise"],
        "sentiment": ["negative", "neutral", "positive"],
        "urgency": ["low", "normal", "high", "critical"],
    },
    "thresholds": {
        "dm": 0.5,
        "intent": {"complaint": 0.5, "question": 0.5, "praise": 0.5},
        "urgency_cuts": [0.25, 0.5, 0.75],
    },
    "metrics": {"care_val.sentiment.macro_f1": 0.5},
}

# keyword -> (intent complaint/question/praise, sentiment neg/neu/pos, urgency level probabilities, dm)
_PROFILES = {
    "hacked": ((0.95, 0.1, 0.0), (0.9, 0.1, 0.0), (0.0, 0.0, 0.0, 1.0), 0.9),  # critical complaint
    "late": ((0.9, 0.2, 0.0), (0.5, 0.5, 0.0), (0.0, 0.0, 1.0, 0.0), 0.2),  # high-urgency complaint
    "thanks": ((0.0, 0.0, 0.95), (0.0, 0.1, 0.9), (1.0, 0.0, 0.0, 0.0), 0.0),  # praise
}
_DEFAULT_PROFILE = ((0.1, 0.9, 0.0), (0.1, 0.8, 0.1), (0.0, 1.0, 0.0, 0.0), 0.1)  # a plain question


class KeywordBackend:
    """Probabilities chosen by keyword: `hacked` (P1), `late` (P2), `thanks` (P4), else a question."""

    def __init__(self) -> None:
        self.calls = 0
        self.tweets = 0

    def predict_proba(self, texts: list[str], languages=None) -> HeadProbabilities:
        self.calls += 1
        self.tweets += len(texts)
        rows = [next((p for word, p in _PROFILES.items() if word in text.lower()), _DEFAULT_PROFILE) for text in texts]
        return HeadProbabilities(
            intent=np.array([row[0] for row in rows], dtype=float).reshape(len(rows), 3),
            sentiment=np.array([row[1] for row in rows], dtype=float).reshape(len(rows), 3),
            urgency=np.array([row[2] for row in rows], dtype=float).reshape(len(rows), 4),
            dm=np.array([row[3] for row in rows], dtype=float),
        )


class GatedBackend(KeywordBackend):
    """Blocks in `predict_proba` until `gate` is set; `entered` counts calls that reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def predict_proba(self, texts: list[str], languages=None) -> HeadProbabilities:
        self.entered.release()
        self.gate.wait(10)
        return super().predict_proba(texts, languages)


class FailingBackend(KeywordBackend):
    """Raises an exception whose message quotes the tweet: it must reach neither client nor log."""

    def predict_proba(self, texts: list[str], languages=None) -> HeadProbabilities:
        raise RuntimeError(f"cannot score {texts!r}")


def stub_loaded(backend: KeywordBackend | None = None, version: str = "stub-1") -> LoadedModel:
    manifest = dict(STUB_MANIFEST, model_version=version)
    model = TriageModel(backend or KeywordBackend(), manifest)
    return LoadedModel(model=model, sha256=manifest_sha256(manifest), loaded_at="2026-11-23T00:00:00Z")


@lru_cache(maxsize=None)
def loaded_from(model_dir: str) -> LoadedModel:
    """A model directory loaded the way the service loads it (hashes, smoke test), once per session."""
    return load_verified(Path(model_dir), None)


def settings_for(model_dir: Path | str = "models/none", **changes: Any) -> Settings:
    """Test settings: no rate limit unless asked, generous budgets, a fresh inbox (SQLite) per app."""
    values: dict[str, Any] = {"model_dir": Path(model_dir), "rate_limit": None,
                              "state_dir": Path(tempfile.mkdtemp(prefix="triage-state-"))}
    values.update(changes)
    return Settings(**values)


def keyed_settings(model_dir: Path | str = "models/none", **changes: Any) -> Settings:
    return settings_for(
        model_dir,
        api_key_digests=frozenset({key_digest(CLIENT_KEY), key_digest(OTHER_CLIENT_KEY)}),
        admin_key_digests=frozenset({key_digest(ADMIN_KEY)}),
        **changes,
    )


def app_with(loaded: LoadedModel | None, settings: Settings | None = None):
    """An app serving `loaded` (no load in the lifespan); `None` leaves it unloaded."""
    settings = settings or settings_for()
    holder = ModelHolder(settings.model_dir, settings.policy_path, loaded)
    return create_app(settings, holder=holder)


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape, with the expected status (and code)."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and "\n" not in body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body
