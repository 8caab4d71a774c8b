"""`train(config, output)`: a recipe in, a verified model directory out.

Steps: assemble the training set, fit the backend (which cross-fits and calibrates), tune the
thresholds on out-of-fold predictions, write the fitted parts, evaluate, write metrics and report,
hash everything into the manifest. Work happens in a sibling temporary directory that replaces the
output only once complete, so an interrupted run never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from model.artifact import content_digest, hash_files, write_manifest
from model.decisions import Thresholds
from model.labels import DM_REASONS, INTENT_TAGS, SENTIMENTS, URGENCY_LEVELS
from model.linear import LinearBackend
from model.triage import TriageModel, fit_backend
from training.distill import teacher_embedder
from training.config import TrainConfig
from training.corpus import build_training_set, intent_tag_matrix
from training.data import resolve_data_dir
from training.evaluate import evaluate_model, headline
from training.report import write_report
from training.thresholds import tune_thresholds

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.json"
Progress = Callable[[str], None]

_VERSIONED_PACKAGES = (
    "tweet-triage",
    "numpy",
    "scipy",
    "scikit-learn",
    "safetensors",
    "model2vec",
    "tokenizers",
    "vaderSentiment",
    "emoji",
    "phonenumbers",
    "python-stdnum",
    "py3langid",
    "torch",
    "transformers",
    "onnx",
    "onnxruntime",
)


class TrainingError(Exception):
    """Training cannot start or finish; one line."""


def build_backend(config: TrainConfig):
    """An unfitted backend for the recipe's `model.backend`.

    Every backend follows `model.backend.Backend`: after `fit`, `tuning_probabilities_` holds its
    predictions for the training rows `tuning_rows_` that it did not fit on (out-of-fold, or a
    held-out slice), and the thresholds are tuned on those.
    """
    if config.model.backend == "linear":
        return LinearBackend(config.features, config.heads, config.distill)
    if config.model.backend == "transformer":
        from training.finetune import TransformerTrainer  # imports torch only when asked for

        return TransformerTrainer(config.transformer)
    if config.model.backend == "ensemble":
        from model.ensemble import EnsembleBackend

        linear = LinearBackend(config.features, config.heads)
        return EnsembleBackend.untrained(linear, config.ensemble.transformer_model, config.ensemble.weight_step)
    raise TrainingError(f"no trainer for backend {config.model.backend!r}")


def tune_model_thresholds(backend, training_set, config: TrainConfig):
    """(thresholds, {language: thresholds}) from the backend's out-of-fold predictions.

    With `thresholds.per_language`, each language of the recipe gets a set tuned on its own care
    rows (the shared heads score a translated Italian tweet with other margins than an English
    one), and the model's default set (for other languages) is the first language's; otherwise
    one set is tuned on every row and used for all.
    """
    rows = backend.tuning_rows_
    targets = training_set.targets

    def tune(mask: np.ndarray) -> Thresholds:
        chosen = rows[mask]
        return tune_thresholds(
            backend.tuning_probabilities_.take(np.flatnonzero(mask)),
            tags_true=intent_tag_matrix(targets, chosen),
            urgency_true=targets.urgency[chosen],
            dm_true=targets.dm[chosen],
            step=config.thresholds.grid_step,
        )

    if not config.thresholds.per_language:
        return tune(np.ones(len(rows), dtype=bool)), {}
    row_languages = targets.language[rows]
    by_language = {lang: tune(row_languages == lang) for lang in config.data.languages}
    return by_language[config.data.languages[0]], by_language


def library_versions() -> dict[str, str]:
    """Versions of the libraries an artifact depends on (absent ones are skipped)."""
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _timer(progress: Progress) -> Progress:
    start = time.perf_counter()

    def say(message: str) -> None:
        progress(f"[{time.perf_counter() - start:6.1f}s] {message}")

    return say


def train(
    config: TrainConfig,
    output: str | Path,
    *,
    force: bool = False,
    data_dir: str | Path | None = None,
    progress: Progress | None = None,
    feedback=None,
) -> Path:
    """Train the recipe and write the model directory `output`; return its path.

    `feedback` (`training.feedback.FeedbackSet`): agents' corrections merged into the training set."""
    output = Path(output)
    if output.exists() and not force:
        raise TrainingError(f"{output} already exists: pass --force to replace it")
    say = _timer(progress or (lambda message: None))
    started = time.perf_counter()
    data_path = resolve_data_dir(data_dir or config.data.dir or None)

    say(f"loading training data from {data_path}")
    training_set = build_training_set(config.data, data_path, feedback=feedback)
    say(f"training set: {len(training_set.texts)} tweets {training_set.counts}; left out {training_set.excluded}")

    backend = build_backend(config)
    options = {}
    if config.distill is not None:
        options["teacher"] = teacher_embedder(config.distill.teacher, config.heads.n_jobs)  # None for "none"
    fit_backend(backend, training_set.texts, training_set.targets, progress=say, **options)

    say("tuning decision thresholds on validation predictions")
    thresholds, thresholds_by_language = tune_model_thresholds(backend, training_set, config)
    fit_seconds = time.perf_counter() - started

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        say(f"writing the artifact to {staging}")
        model_files = backend.save(staging)
        (staging / CONFIG_FILE).write_text(config.to_toml())
        trained_at = datetime.now(timezone.utc)
        digest = content_digest(hash_files(staging, [*model_files, CONFIG_FILE]))
        manifest = {
            "model_version": f"{trained_at:%Y.%m.%d}-{digest[:6]}",
            "name": config.model.name,
            "trained_at": trained_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "backend": backend.describe(),
            "labels": {
                "intent": list(INTENT_TAGS),
                "sentiment": list(SENTIMENTS),
                "urgency": list(URGENCY_LEVELS),
                "dm_reasons": list(DM_REASONS),
            },
            "thresholds": thresholds.to_dict(INTENT_TAGS),
            "thresholds_by_language": {
                lang: value.to_dict(INTENT_TAGS) for lang, value in thresholds_by_language.items()
            },
            "languages": list(config.data.languages),
            "config": config.to_dict(),
            "versions": library_versions(),
            "training_data": {
                "data_dir": str(data_path),
                "counts": training_set.counts,
                "excluded": training_set.excluded,
                **({"feedback": feedback.summary()} if feedback is not None else {}),
            },
        }
        model = TriageModel(backend, manifest)
        evaluation = evaluate_model(model, data_path, progress=say)
        manifest["training_seconds"] = round(fit_seconds, 1)
        manifest["metrics"] = headline(evaluation.metrics)
        (staging / METRICS_FILE).write_text(json.dumps(evaluation.metrics, indent=2, sort_keys=True) + "\n")
        say("writing report.md and plots")
        write_report(staging, manifest, evaluation)
        write_manifest(staging, manifest)
        _replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"model {manifest['model_version']} written to {output} (fitting took {fit_seconds:.0f}s)")
    return output


def _replace(staging: Path, output: Path) -> None:
    """Move the finished artifact into place; an existing one is removed only after the move."""
    if output.exists():
        retired = output.with_name(f".{output.name}.retired-{time.time_ns()}")
        output.rename(retired)
        staging.rename(output)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(output)


def print_progress(message: str) -> None:
    """Progress goes to stderr, so stdout stays clean for results."""
    print(message, file=sys.stderr, flush=True)
