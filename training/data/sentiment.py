"""Public tweet-sentiment datasets: SemEval 2013-2016, TweetEval, SENTIPOLC 2016 and XLM-T.

Each loader returns `id`, `text` and `sentiment` (negative / neutral / positive, the vocabulary of
`model/labels.py`), plus `irony` for SENTIPOLC. What each split may be used for is in
`data/README.md`: TweetEval `test` only to report the official metric, never to train or tune.

SENTIPOLC's test split is not usable here: the data directory holds its ids and labels only
(`sentipolc16_gold2000.csv`, no text column), so `load_sentipolc("test")` raises `DataError`
unless the upstream `sentipolc16_gold2000_text.csv` is added. XLM-T's Italian `test` texts come
from that SENTIPOLC test set (and its Italian train/val from SENTIPOLC train), without ids.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterable

from datasets import Dataset, Features, Value

from model.labels import SENTIMENTS
from training.data.paths import DataError, data_file, relative_name, resolve_data_dir
from training.data.tables import rows_to_dataset

SENTIMENT_FEATURES = Features({"id": Value("string"), "text": Value("string"), "sentiment": Value("string")})
"""Columns of the SemEval, TweetEval and XLM-T loaders."""

SENTIPOLC_FEATURES = Features({**SENTIMENT_FEATURES, "irony": Value("int64")})
"""Columns of `load_sentipolc`."""

TWEETEVAL_SPLITS = ("val", "test")
SENTIPOLC_SPLITS = ("train", "test")
XLMT_LANGUAGES = ("english", "italian")
XLMT_SPLITS = ("train", "val", "test")

# XLM-T ships no mapping.txt; its code names the classes 0 Neg, 1 Neu, 2 Pos (same as TweetEval).
_XLMT_LABELS = dict(enumerate(SENTIMENTS))

# The SemEval CSV keeps JSON-style escapes from the 2013 files: `\u002c` (a comma), `\u2019`, `\"`.
# Other backslashes are emoticons (`\m/`, `\o/`, `=\`) and stay as they are.
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_QUOTE_ESCAPE = re.compile(r"""\\(["'])""")


def _check_split(split: str, allowed: tuple[str, ...], what: str) -> None:
    if split not in allowed:
        raise DataError(f"unknown {what} split {split!r}: expected one of {', '.join(allowed)}")


def decode_semeval_escapes(text: str) -> str:
    """Undo the `\\uXXXX` and `\\"` escapes of the SemEval CSV (surrogate pairs included)."""
    if "\\" not in text:
        return text
    decoded = _UNICODE_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
    decoded = _QUOTE_ESCAPE.sub(r"\1", decoded)
    # A pair of escaped surrogates (an emoji written as two `\uD8xx\uDCxx`) becomes one character.
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _read_lines(path: Path) -> list[str]:
    # Split on "\n" only: str.splitlines() would also split on U+2028, U+0085... inside tweets.
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _paired_text_labels(
    data_dir: Path, folder: str, split: str, labels: dict[str, str], id_prefix: str
) -> list[dict[str, str]]:
    """Read `<folder>/<split>_text.txt` and its `_labels.txt`, line by line."""
    text_path = data_file(data_dir, folder, f"{split}_text.txt")
    label_path = data_file(data_dir, folder, f"{split}_labels.txt")
    texts, codes = _read_lines(text_path), _read_lines(label_path)
    if len(texts) != len(codes):
        raise DataError(
            f"{relative_name(data_dir, text_path)} has {len(texts)} lines but "
            f"{relative_name(data_dir, label_path)} has {len(codes)}"
        )
    rows = []
    for line_number, (text, code) in enumerate(zip(texts, codes), start=1):
        sentiment = labels.get(code.strip())
        if sentiment is None:
            name = relative_name(data_dir, label_path)
            raise DataError(f"{name} line {line_number}: unknown label {code.strip()[:10]!r}")
        # TweetEval lines end with a space: an artefact of the format, not of the tweet.
        rows.append({"id": f"{id_prefix}:{line_number}", "text": text.strip(), "sentiment": sentiment})
    return rows


def load_semeval_train(data_dir: str | Path | None = None, *, dedupe: bool = False) -> Dataset:
    """Load `sentiment/semeval_train.csv` (SemEval 2013-2016, minus TweetEval val) with escapes decoded.

    Ten tweet ids occur twice (the same tweet from two yearly files, quoted differently; one pair
    with conflicting labels). By default both rows are kept, the repeat's id suffixed `:2`, so the
    count matches the data README (47,462); `dedupe=True` keeps the first row of each tweet only.
    """
    directory = resolve_data_dir(data_dir)
    path = data_file(directory, "sentiment", "semeval_train.csv")
    name = relative_name(directory, path)
    rows = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != ["tweet_id", "label", "text"]:
            raise DataError(f"{name}: expected columns tweet_id, label, text")
        for record in reader:
            line_number = reader.line_num
            if record["label"] not in SENTIMENTS:
                raise DataError(f"{name} line {line_number}: unknown label {str(record['label'])[:12]!r}")
            tweet_id = record["tweet_id"].strip()
            seen[tweet_id] = seen.get(tweet_id, 0) + 1
            if seen[tweet_id] > 1 and dedupe:
                continue
            suffix = "" if seen[tweet_id] == 1 else f":{seen[tweet_id]}"
            rows.append(
                {
                    "id": f"semeval:{tweet_id}{suffix}",
                    "text": decode_semeval_escapes(record["text"]),
                    "sentiment": record["label"],
                }
            )
    return rows_to_dataset(rows, SENTIMENT_FEATURES)


def _tweeteval_mapping(data_dir: Path) -> dict[str, str]:
    path = data_file(data_dir, "sentiment", "tweeteval", "mapping.txt")
    mapping = {}
    for line in _read_lines(path):
        if line.strip():
            code, label = line.split("\t") if "\t" in line else line.split(maxsplit=1)
            mapping[code.strip()] = label.strip()
    if sorted(mapping.values()) != sorted(SENTIMENTS):
        raise DataError(f"{relative_name(data_dir, path)}: expected the labels {', '.join(SENTIMENTS)}")
    return mapping


def load_tweeteval_sentiment(split: str, data_dir: str | Path | None = None) -> Dataset:
    """Load TweetEval sentiment `val` (tuning) or `test` (reporting only); ids `tweeteval:<split>:<line>`."""
    _check_split(split, TWEETEVAL_SPLITS, "TweetEval sentiment")
    directory = resolve_data_dir(data_dir)
    rows = _paired_text_labels(
        directory, "sentiment/tweeteval", split, _tweeteval_mapping(directory), f"tweeteval:{split}"
    )
    return rows_to_dataset(rows, SENTIMENT_FEATURES)


def load_xlmt(lang: str, split: str, data_dir: str | Path | None = None) -> Dataset:
    """Load XLM-T (UMSAB) sentiment, `english` or `italian`, train / val / test; ids `xlmt:<lang>:<split>:<line>`."""
    if lang not in XLMT_LANGUAGES:
        raise DataError(f"unknown XLM-T language {lang!r}: expected one of {', '.join(XLMT_LANGUAGES)}")
    _check_split(split, XLMT_SPLITS, "XLM-T")
    directory = resolve_data_dir(data_dir)
    labels = {str(code): label for code, label in _XLMT_LABELS.items()}
    rows = _paired_text_labels(directory, f"sentiment/xlmt_{lang}", split, labels, f"xlmt:{lang}:{split}")
    return rows_to_dataset(rows, SENTIMENT_FEATURES)


def sentipolc_polarity(opos: int, oneg: int) -> str | None:
    """Overall polarity from SENTIPOLC's two flags; None for `mixed` (both on), which we leave out."""
    if opos and oneg:
        return None
    if opos:
        return "positive"
    if oneg:
        return "negative"
    return "neutral"


_SENTIPOLC_COLUMNS = ["idtwitter", "subj", "opos", "oneg", "iro", "lpos", "lneg", "top", "text"]


def _sentipolc_records(path: Path, name: str, split: str) -> Iterable[tuple[int, list[str]]]:
    """Yield (line, 9 fields) from a SENTIPOLC CSV, train or test layout."""
    with path.open(encoding="utf-8", newline="") as handle:
        if split == "train":
            reader = csv.reader(handle)
            header = next(reader, None)
            if header != _SENTIPOLC_COLUMNS:
                raise DataError(f"{name}: expected columns {', '.join(_SENTIPOLC_COLUMNS)}")
            for line_number, fields in enumerate(reader, start=2):
                yield line_number, fields
        else:
            # The upstream test file has no header and escapes quotes with a backslash; a few rows
            # still split the text on commas, so fields 8+ are joined back.
            reader = csv.reader(handle, escapechar="\\", doublequote=False)
            for line_number, fields in enumerate(reader, start=1):
                if len(fields) > len(_SENTIPOLC_COLUMNS):
                    fields = [*fields[:8], ",".join(fields[8:])]
                yield line_number, fields


def load_sentipolc(split: str, data_dir: str | Path | None = None) -> Dataset:
    """Load SENTIPOLC 2016 (Italian) `train`, or `test` if its texts are present; mixed polarity left out.

    Raises `DataError` for `test` here: `sentipolc16_gold2000.csv` has ids and labels but no text.
    """
    _check_split(split, SENTIPOLC_SPLITS, "SENTIPOLC")
    directory = resolve_data_dir(data_dir)
    folder = ("sentiment", "sentipolc2016_it")
    if split == "train":
        path = data_file(directory, *folder, "sentipolc16_officialdistrib_train.csv")
    else:
        labels_only = directory.joinpath(*folder, "sentipolc16_gold2000.csv")
        try:
            path = data_file(directory, *folder, "sentipolc16_gold2000_text.csv")
        except DataError:
            if labels_only.is_file():
                raise DataError(
                    "SENTIPOLC test has no tweet text here: sentipolc16_gold2000.csv holds only ids and "
                    "labels (8 columns); add the upstream sentipolc16_gold2000_text.csv, or use "
                    "load_xlmt('italian', 'test'), whose texts come from it"
                ) from None
            raise
    name = relative_name(directory, path)
    rows = []
    for line_number, fields in _sentipolc_records(path, name, split):
        if len(fields) != len(_SENTIPOLC_COLUMNS):
            raise DataError(f"{name} line {line_number}: expected {len(_SENTIPOLC_COLUMNS)} fields, got {len(fields)}")
        record = dict(zip(_SENTIPOLC_COLUMNS, fields))
        try:
            opos, oneg, irony = int(record["opos"]), int(record["oneg"]), int(record["iro"])
        except ValueError:
            raise DataError(f"{name} line {line_number}: opos, oneg and iro must be 0 or 1") from None
        if {opos, oneg, irony} - {0, 1}:
            raise DataError(f"{name} line {line_number}: opos, oneg and iro must be 0 or 1")
        sentiment = sentipolc_polarity(opos, oneg)
        if sentiment is None:
            continue
        tweet_id = record["idtwitter"].strip()
        rows.append({"id": f"sentipolc:{tweet_id}", "text": record["text"], "sentiment": sentiment, "irony": irony})
    return rows_to_dataset(rows, SENTIPOLC_FEATURES)
