"""Our labelled customer-care tweets: `care/` (English) and `care_it/` (Italian translations).

Every record is validated against the label sets of `model/labels.py` and the rules of
LABELLING.md (`intent` is derived from the tags, never chosen); a bad record raises `DataError`
naming the file and line, never quoting the tweet.

Two leaks to keep in mind when training (see `data/README.md` and `training.data.overlaps`):
`care/train` holds tweets of `complaints/test` (ids `cmp:<tweet_id>`), and the English originals
of `care_it/val` are in `care/train` (`orig_id`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value

from model.labels import INTENT_OTHER, INTENT_TAGS, SENTIMENTS, URGENCY_LEVELS, primary_intent
from training.data.paths import DataError, data_file, relative_name, resolve_data_dir
from training.data.tables import rows_to_dataset

CARE_SPLITS = ("train", "val")

_BINARY_FIELDS = (*INTENT_TAGS, "dm")
_REQUIRED = frozenset({"id", "text", "source", *_BINARY_FIELDS, "intent", "sentiment", "urgency"})
_OPTIONAL = frozenset({"brand", "context"})
_IT_ONLY = frozenset({"orig_id", "lang"})

CARE_FEATURES = Features(
    {
        "id": Value("string"),
        "text": Value("string"),
        "source": Value("string"),
        "brand": Value("string"),
        "context": List(Value("string")),
        "complaint": Value("int64"),
        "question": Value("int64"),
        "praise": Value("int64"),
        "intent": Value("string"),
        "sentiment": Value("string"),
        "urgency": Value("int64"),
        "dm": Value("int64"),
        "lang": Value("string"),
    }
)
"""Columns and types of `load_care`."""

CARE_IT_FEATURES = Features({**CARE_FEATURES, "orig_id": Value("string")})
"""Columns and types of `load_care_it`: those of `load_care` plus `orig_id`."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(record: Any, italian: bool) -> str | None:
    """Return what is wrong with one care record, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    allowed = _REQUIRED | _OPTIONAL | (_IT_ONLY if italian else frozenset())
    missing = sorted((_REQUIRED | (_IT_ONLY if italian else frozenset())) - record.keys())
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    unknown = sorted(record.keys() - allowed)
    if unknown:
        return f"unknown field(s) {', '.join(repr(key[:40]) for key in unknown[:5])}"
    for field in ("id", "text", "source"):
        if not isinstance(record[field], str) or not record[field].strip():
            return f"`{field}` must be a non-empty string"
    if record.get("brand") is not None and not isinstance(record["brand"], str):
        return "`brand` must be a string"
    context = record.get("context")
    if context is not None and not (isinstance(context, list) and all(isinstance(turn, str) for turn in context)):
        return "`context` must be a list of strings"
    for field in _BINARY_FIELDS:
        if not _is_int(record[field]) or record[field] not in (0, 1):
            return f"`{field}` must be 0 or 1"
    if not _is_int(record["urgency"]) or not 0 <= record["urgency"] < len(URGENCY_LEVELS):
        return f"`urgency` must be an integer 0-{len(URGENCY_LEVELS) - 1}"
    if record["sentiment"] not in SENTIMENTS:
        return f"`sentiment` must be one of {', '.join(SENTIMENTS)}"
    if record["intent"] not in (*INTENT_TAGS, INTENT_OTHER):
        return f"`intent` must be one of {', '.join((*INTENT_TAGS, INTENT_OTHER))}"
    derived = primary_intent([tag for tag in INTENT_TAGS if record[tag] == 1])
    if record["intent"] != derived:
        return f"`intent` is {record['intent']!r} but the tags derive {derived!r}"
    if italian:
        if record["lang"] != "it":
            return "`lang` must be 'it'"
        if not isinstance(record["orig_id"], str) or not record["orig_id"]:
            return "`orig_id` must be a non-empty string"
    return None


def _read_care(data_dir: Path, folder: str, split: str, italian: bool) -> list[dict[str, Any]]:
    if split not in CARE_SPLITS:
        raise DataError(f"unknown {folder} split {split!r}: expected one of {', '.join(CARE_SPLITS)}")
    path = data_file(data_dir, folder, f"{split}.jsonl")
    name = relative_name(data_dir, path)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{name} line {line_number}: not valid JSON") from None
            problem = _validate(record, italian)
            if problem is None and record["id"] in seen:
                problem = "duplicate id"
            if problem is not None:
                raise DataError(f"{name} line {line_number}: {problem}")
            seen.add(record["id"])
            row = {
                "id": record["id"],
                "text": record["text"],
                "source": record["source"],
                "brand": record.get("brand"),
                "context": list(record.get("context") or []),
                **{tag: record[tag] for tag in INTENT_TAGS},
                "intent": record["intent"],
                "sentiment": record["sentiment"],
                "urgency": record["urgency"],
                "dm": record["dm"],
                "lang": "it" if italian else "en",
            }
            if italian:
                row["orig_id"] = record["orig_id"]
            rows.append(row)
    return rows


def load_care(split: str, data_dir: str | Path | None = None) -> Dataset:
    """Load `care/<split>.jsonl` (split: train or val), validated; columns as `CARE_FEATURES`."""
    directory = resolve_data_dir(data_dir)
    return rows_to_dataset(_read_care(directory, "care", split, italian=False), CARE_FEATURES)


def load_care_it(split: str, data_dir: str | Path | None = None) -> Dataset:
    """Load `care_it/<split>.jsonl` (split: train or val), validated; columns as `CARE_IT_FEATURES`."""
    directory = resolve_data_dir(data_dir)
    return rows_to_dataset(_read_care(directory, "care_it", split, italian=True), CARE_IT_FEATURES)
