"""Preotiuc-Pietro, Gaman & Aletras (ACL 2019) complaint tweets: a fixed 80/20 split.

`train` is for training, `test` only to report the F1 of the complaint class. Ids are
`cmp:<tweet_id>`, the scheme `care/` uses for the same tweets; `care/train` and `care/val` contain
tweets of `test` (see `training.data.overlaps.complaints_test_ids`): leave them out of training
for an honest test figure.
"""

from __future__ import annotations

import csv
from pathlib import Path

from datasets import Dataset, Features, Value

from training.data.paths import DataError, data_file, relative_name, resolve_data_dir
from training.data.tables import rows_to_dataset

COMPLAINTS_SPLITS = ("train", "test")
COMPLAINTS_ID_PREFIX = "cmp:"

COMPLAINTS_FEATURES = Features(
    {"id": Value("string"), "text": Value("string"), "complaint": Value("int64"), "domain": Value("string")}
)
"""Columns of `load_complaints`."""

_COLUMNS = ["tweet_id", "text", "complaint", "domain"]


def load_complaints(split: str, data_dir: str | Path | None = None) -> Dataset:
    """Load `complaints/<split>.csv` (train or test): `id` (`cmp:<tweet_id>`), `text`, `complaint`, `domain`."""
    if split not in COMPLAINTS_SPLITS:
        raise DataError(f"unknown complaints split {split!r}: expected one of {', '.join(COMPLAINTS_SPLITS)}")
    directory = resolve_data_dir(data_dir)
    path = data_file(directory, "complaints", f"{split}.csv")
    name = relative_name(directory, path)
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != _COLUMNS:
            raise DataError(f"{name}: expected columns {', '.join(_COLUMNS)}")
        for record in reader:
            line_number = reader.line_num
            if record["complaint"] not in ("0", "1") or not record["tweet_id"].strip().isdigit():
                raise DataError(f"{name} line {line_number}: bad tweet_id or complaint label")
            rows.append(
                {
                    "id": f"{COMPLAINTS_ID_PREFIX}{record['tweet_id'].strip()}",
                    "text": record["text"],
                    "complaint": int(record["complaint"]),
                    "domain": record["domain"],
                }
            )
    return rows_to_dataset(rows, COMPLAINTS_FEATURES)
