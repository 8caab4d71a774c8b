"""What a backend is, and which backends exist.

A backend turns normalised tweet texts into calibrated head probabilities. The linear path is one;
the transformer path (MiniLM) and ensembles are others. Everything after the probabilities
(thresholds, DM advice, PII, priority, the output contract) is shared and lives in `TriageModel`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from model.artifact import ArtifactError
from model.heads import HeadProbabilities, HeadTargets

# Backends by the `kind` their manifest records, imported only when an artifact needs them (the
# transformer path pulls in onnxruntime or torch, the linear path must not).
BACKENDS: dict[str, str] = {
    "linear": "model.linear:LinearBackend",
    "transformer": "model.transformer:TransformerBackend",
    "ensemble": "model.ensemble:EnsembleBackend",
}


class Backend(Protocol):
    """The seam between featurisers/encoders and the rest of the model."""

    kind: str
    tuning_probabilities_: HeadProbabilities  # after fit: predictions for rows it did not fit on
    tuning_rows_: np.ndarray  # ...and which training rows those are

    def fit(self, texts: Sequence[str], targets: HeadTargets, **options) -> Backend: ...

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> HeadProbabilities:
        """Calibrated probabilities of normalised texts; `languages` (one code per text, or None)
        lets a backend with per-language weights use them."""

    def save(self, directory: Path) -> list[str]:
        """Write the fitted parts (JSON, safetensors, ONNX: never pickles); return their paths."""

    def describe(self) -> dict:
        """What the manifest records under `backend`: at least `kind`, enough to `load`."""

    @classmethod
    def load(cls, directory: Path, description: dict) -> Backend:
        """Rebuild from `save`'s files; the caller has verified every hash first."""


def backend_class(kind: str):
    """The backend class registered for `kind`."""
    if kind not in BACKENDS:
        raise ArtifactError(f"unknown backend kind {kind!r} (known: {', '.join(sorted(BACKENDS))})")
    module_name, class_name = BACKENDS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)
