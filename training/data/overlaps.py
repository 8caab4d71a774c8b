"""Leaks between training data and evaluation splits, and how to leave them out.

Found while loading (counts in `data/README.md`):
- `care/train` and `care/val` contain tweets of `complaints/test` (ids `cmp:<tweet_id>`), although
  the data README says care was built from the complaints *train* split: `complaints_test_ids`.
- The English originals of `care_it/val` are in `care/train`: `care_it_val_original_ids`.
- Public sets share texts without sharing ids (XLM-T vs TweetEval and SENTIPOLC): compare texts by
  `normalised_text_key`, e.g. with `overlaps_with`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from model.normalise import normalise_tweet
from training.data.care import load_care_it
from training.data.complaints import load_complaints

MIN_KEY_CHARS = 20
"""Keys shorter than this ("thanks", "dm sent") match by chance, not by copying: never an overlap."""

_MASKS = re.compile(r"@user|\bhttp\b|email@example\.com")
_NON_WORD = re.compile(r"[\W_]+")


def normalised_text_key(text: str) -> str:
    """A key equal for copies of one tweet: normalised, handles / URLs / e-mails dropped, lowercase, words only."""
    key = _MASKS.sub(" ", normalise_tweet(text))
    return _NON_WORD.sub(" ", key.casefold()).strip()


def text_keys(texts: Iterable[str], min_chars: int = MIN_KEY_CHARS) -> set[str]:
    """The `normalised_text_key`s of `texts` long enough to identify a tweet."""
    return {key for text in texts if len(key := normalised_text_key(text)) >= min_chars}


def overlaps_with(texts: Iterable[str], reference_texts: Iterable[str], min_chars: int = MIN_KEY_CHARS) -> list[bool]:
    """For each of `texts`, whether its key occurs among `reference_texts`' (a mask for `Dataset.filter`)."""
    reference = text_keys(reference_texts, min_chars)
    return [normalised_text_key(text) in reference for text in texts]


def complaints_test_ids(data_dir: str | Path | None = None) -> frozenset[str]:
    """Ids (`cmp:<tweet_id>`) of `complaints/test`: leave them out of training (they are in `care/`)."""
    return frozenset(load_complaints("test", data_dir)["id"])


def care_it_val_original_ids(data_dir: str | Path | None = None) -> frozenset[str]:
    """Ids of the `care/train` tweets whose translations are `care_it/val`: leave them out for Italian figures."""
    return frozenset(load_care_it("val", data_dir)["orig_id"])
