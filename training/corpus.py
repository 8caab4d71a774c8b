"""The training set of a recipe: which tweets from which sources, with which labels for which head.

- `care/train` (our labelled tweets): every head; the only rows cross-fitted for calibration and
  threshold tuning.
- `complaints/train`: the complaint tag only, for tweets that are not in care (train or val).
- SemEval 2013-2016: the sentiment head only.
- TWCS weak DM labels (optional): the DM head only.
- `care_it/train` (Italian translations of care tweets): every head, cross-fitted like care.
- SENTIPOLC 2016 train (real Italian tweets): the sentiment head only.
English sources come in when `data.languages` has "en", Italian ones when it has "it".

Leaks are removed here: care/train holds tweets of `complaints/test` (left out when
`exclude_complaints_test`), and complaints/train holds tweets of `care/val` (always left out, or the
complaint tag would be trained on tweets we report on). For Italian: the English originals of
`care_it/val` (its `orig_id`s) are left out of care/train and of care_it/train when
`exclude_care_it_val_originals`, care_it/train translations of complaints/test tweets with
`exclude_complaints_test`, and SENTIPOLC train tweets whose text is in the Italian sentiment test
set (XLM-T's Italian test, drawn from SENTIPOLC) always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.heads import MISSING, HeadTargets
from model.labels import INTENT_TAGS, SENTIMENTS
from model.language import detect_language
from model.normalise import normalise_tweet
from training.config import DataSection
from training.data import (
    load_care,
    load_care_it,
    load_complaints,
    load_semeval_train,
    load_sentipolc,
    load_twcs_customer_tweets,
    load_xlmt,
    normalised_text_key,
    overlaps_with,
    text_keys,
)
from training.feedback import apply_corrections


SOURCE_LANGUAGES = {"care": "en", "complaints": "en", "semeval": "en", "twcs_dm_weak": "en", "care_it": "it", "sentipolc": "it"}
"""The language of every source's tweets."""


@dataclass
class TrainingSet:
    """Raw texts with their targets, and what went in (for the manifest and the report)."""

    texts: list[str]
    targets: HeadTargets
    sources: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)


class _Builder:
    """Accumulates rows source by source."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.sources: list[str] = []
        self.columns: dict[str, list] = {
            name: [] for name in ("complaint", "question", "praise", "sentiment", "urgency", "dm")
        }
        self.weight: list[float] = []
        self.sentiment_weight: list[float] = []
        self.cross_fit: list[bool] = []

    def add(self, text: str, source: str, *, weight: float, cross_fit: bool = False, sentiment_weight: float | None = None, **labels) -> None:
        self.texts.append(text)
        self.sources.append(source)
        for name, values in self.columns.items():
            values.append(labels.get(name, MISSING))
        self.weight.append(weight)
        self.sentiment_weight.append(weight if sentiment_weight is None else sentiment_weight)
        self.cross_fit.append(cross_fit)

    def build(self) -> tuple[list[str], HeadTargets, list[str]]:
        targets = HeadTargets(
            **{name: np.asarray(values, dtype=int) for name, values in self.columns.items()},
            weight=np.asarray(self.weight, dtype=float),
            sentiment_weight=np.asarray(self.sentiment_weight, dtype=float),
            cross_fit=np.asarray(self.cross_fit, dtype=bool),
            language=np.array([_row_language(source, text) for source, text in zip(self.sources, self.texts)], dtype=object),
        )
        return self.texts, targets, self.sources


def _row_language(source: str, text: str) -> str:
    """A row's language: its source's, or detected (agents' corrections can be in any language)."""
    if source in SOURCE_LANGUAGES:
        return SOURCE_LANGUAGES[source]
    return detect_language(normalise_tweet(text))


def _head(rows, limit: int):
    return rows if limit <= 0 else rows.select(range(min(limit, len(rows))))


def build_training_set(data: DataSection, data_dir: Path, feedback=None) -> TrainingSet:
    """Assemble the training rows a recipe asks for (never reads care/val labels or any test split's labels).

    `feedback` (a `training.feedback.FeedbackSet`): agents' corrections override our labels of the
    same care tweets; other corrected tweets are added, labelled for the corrected heads only.
    """
    builder = _Builder()
    counts: dict[str, int] = {}
    excluded: dict[str, int] = {}

    def leave_out(reason: str) -> None:
        excluded[reason] = excluded.get(reason, 0) + 1

    complaints_test_ids = set(load_complaints("test", data_dir=data_dir)["id"])
    care_train = load_care("train", data_dir=data_dir)
    care_val_ids = set(load_care("val", data_dir=data_dir)["id"])
    care_it_val_originals: set[str] = set()
    care_it_val_keys: set[str] = set()
    if data.exclude_care_it_val_originals:
        care_it_val = load_care_it("val", data_dir=data_dir)
        care_it_val_originals = set(care_it_val["orig_id"])
        # Copies by text too: TWCS holds a tweet again under another id, two originals can share
        # one translation.
        originals = [row["text"] for row in care_train if row["id"] in care_it_val_originals]
        care_it_val_keys = text_keys([*care_it_val["text"], *originals])

    def is_care_it_val_copy(text: str) -> bool:
        return bool(care_it_val_keys) and normalised_text_key(text) in care_it_val_keys

    corrected = {tweet.tweet_id: tweet for tweet in feedback.tweets} if feedback is not None else {}
    overridden = 0
    if "en" in data.languages:
        overridden = _add_english(
            builder, data, data_dir, care_train, care_val_ids, complaints_test_ids, care_it_val_originals,
            is_care_it_val_copy, counts, leave_out, corrected, feedback.weight if feedback is not None else 0.0,
        )
    if "it" in data.languages:
        _add_italian(builder, data, data_dir, complaints_test_ids, care_it_val_originals, is_care_it_val_copy, counts, leave_out)
    if feedback is not None:
        _add_feedback(builder, feedback, set(care_train["id"]), care_val_ids, overridden, counts, excluded)

    texts, targets, sources = builder.build()
    return TrainingSet(texts=texts, targets=targets, sources=sources, counts=counts, excluded=excluded)


def _add_care_row(builder, text: str, source: str, labels, weight: float, sentiment_weight: float) -> None:
    """One care-labelled tweet (English or its Italian translation): every head, cross-fitted."""
    builder.add(
        text,
        source,
        weight=weight,
        sentiment_weight=sentiment_weight,
        cross_fit=True,
        complaint=labels["complaint"],
        question=labels["question"],
        praise=labels["praise"],
        sentiment=SENTIMENTS.index(labels["sentiment"]),
        urgency=labels["urgency"],
        dm=labels["dm"],
    )


def _add_english(
    builder, data, data_dir, care_train, care_val_ids, complaints_test_ids, care_it_val_originals, is_care_it_val_copy,
    counts, leave_out, corrected: dict, feedback_weight: float,
) -> int:
    """English sources; returns how many care rows an agent's correction overrode."""
    care = _head(care_train, data.limit)
    kept = overridden = 0
    for row in care:
        if data.exclude_complaints_test and row["id"] in complaints_test_ids:
            leave_out("care_train_in_complaints_test")
            continue
        if row["id"] in care_it_val_originals or is_care_it_val_copy(row["text"]):
            leave_out("care_train_original_of_care_it_val")
            continue
        labels = {name: row[name] for name in ("complaint", "question", "praise", "sentiment", "urgency", "dm")}
        weight, sentiment_weight = data.care_weight, data.care_sentiment_weight
        if row["id"] in corrected:
            labels = apply_corrections(labels, corrected[row["id"]].corrections)
            weight, sentiment_weight = max(weight, feedback_weight), max(sentiment_weight, feedback_weight)
            overridden += 1
        _add_care_row(builder, row["text"], "care", labels, weight, sentiment_weight)
        kept += 1
    counts["care"] = kept
    care_ids = set(care["id"])

    if data.complaints_extra:
        kept = 0
        for row in _head(load_complaints("train", data_dir=data_dir), data.limit):
            if row["id"] in care_ids or row["id"] in care_val_ids:
                leave_out("complaints_train_in_care_val" if row["id"] in care_val_ids else "complaints_train_in_care_train")
                continue
            builder.add(row["text"], "complaints", weight=data.complaints_weight, complaint=row["complaint"])
            kept += 1
        counts["complaints"] = kept

    if data.semeval:
        semeval = _head(load_semeval_train(data_dir=data_dir), data.limit)
        for text, label in zip(semeval["text"], semeval["sentiment"]):
            builder.add(text, "semeval", weight=data.semeval_weight, sentiment=SENTIMENTS.index(label))
        counts["semeval"] = len(semeval)

    if data.twcs_dm_weak:
        twcs = _head(load_twcs_customer_tweets(data_dir=data_dir), data.limit)
        kept = 0
        for row in twcs:
            if row["id"] in care_ids or row["id"] in care_val_ids:
                leave_out("twcs_in_care")
                continue
            if is_care_it_val_copy(row["text"]):
                leave_out("twcs_copy_of_care_it_val")
                continue
            builder.add(row["text"], "twcs_dm_weak", weight=data.twcs_dm_weight, dm=row["dm_weak"])
            kept += 1
        counts["twcs_dm_weak"] = kept
    return overridden


def _add_feedback(builder, feedback, care_ids: set[str], care_val_ids: set[str], overridden: int, counts, excluded) -> None:
    """Corrected tweets that are not care/train rows: added, labelled for the corrected heads only;
    care/val tweets are left out (we report on care/val: never train on it)."""
    added = in_val = 0
    for tweet in feedback.tweets:
        if tweet.tweet_id in care_ids:
            continue  # merged into its care row
        if tweet.tweet_id in care_val_ids:
            in_val += 1
            continue
        labels = apply_corrections({}, tweet.corrections)
        if "sentiment" in labels:
            labels["sentiment"] = SENTIMENTS.index(labels["sentiment"])
        builder.add(tweet.text, "feedback", weight=feedback.weight, **labels)
        added += 1
    counts["feedback"] = added
    if in_val:
        excluded["feedback_in_care_val"] = in_val
    feedback.used = {"overrides": overridden, "added": added, "left_out_care_val": in_val}


def _add_italian(builder, data, data_dir, complaints_test_ids, care_it_val_originals, is_care_it_val_copy, counts, leave_out) -> None:
    if data.care_it:
        kept = 0
        for row in _head(load_care_it("train", data_dir=data_dir), data.limit):
            if row["orig_id"] in care_it_val_originals or is_care_it_val_copy(row["text"]):
                leave_out("care_it_train_original_of_care_it_val")
                continue
            if data.exclude_complaints_test and row["orig_id"] in complaints_test_ids:
                leave_out("care_it_train_in_complaints_test")
                continue
            _add_care_row(builder, row["text"], "care_it", row, data.care_it_weight, data.care_it_sentiment_weight)
            kept += 1
        counts["care_it"] = kept

    if data.sentipolc:
        sentipolc = _head(load_sentipolc("train", data_dir=data_dir), data.limit)
        # XLM-T's Italian test tweets (our Italian sentiment test set) also occur in SENTIPOLC train.
        in_test = overlaps_with(sentipolc["text"], load_xlmt("italian", "test", data_dir=data_dir)["text"])
        kept = 0
        for text, label, leaked in zip(sentipolc["text"], sentipolc["sentiment"], in_test):
            if leaked:
                leave_out("sentipolc_train_in_italian_sentiment_test")
                continue
            builder.add(text, "sentipolc", weight=data.sentipolc_weight, sentiment=SENTIMENTS.index(label))
            kept += 1
        counts["sentipolc"] = kept


def intent_tag_matrix(targets: HeadTargets, rows: np.ndarray) -> np.ndarray:
    """(n, tags) 0/1 matrix of the intent tags of `rows`."""
    return np.column_stack([targets.intent(tag)[rows] for tag in INTENT_TAGS])
