"""Turning the rows a loader has read into a `datasets.Dataset` with fixed columns and types."""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa
from datasets import Dataset, DatasetInfo, Features


def rows_to_dataset(rows: Sequence[dict[str, Any]], features: Features) -> Dataset:
    """An in-memory Dataset of `rows` with exactly `features`' columns, in its order.

    Built through Arrow directly: `Dataset.from_list(rows, features=...)` encodes value by value
    and is several times slower on the 58k TWCS tweets. Nothing is cached on disk.
    """
    table = pa.Table.from_pylist(list(rows), schema=features.arrow_schema)
    return Dataset(table, info=DatasetInfo(features=features))
