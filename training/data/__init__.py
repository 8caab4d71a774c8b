"""Loaders for the training and evaluation data, each returning a `datasets.Dataset`.

The data directory is read-only and never copied into the repository; it is chosen by
`--data-dir` / the recipe's config, `TRIAGE_DATA_DIR`, or defaults to `../shared/data`
(`resolve_data_dir`). `heldout/` cannot be read through any of these loaders. What each source is,
its licence and what each split may be used for are in `data/README.md`.
"""

from __future__ import annotations

from training.data.care import load_care, load_care_it
from training.data.complaints import load_complaints
from training.data.ibm import load_ibm_conversations, load_ibm_customer_tweets
from training.data.overlaps import (
    care_it_val_original_ids,
    complaints_test_ids,
    normalised_text_key,
    overlaps_with,
    text_keys,
)
from training.data.paths import DATA_DIR_ENV, DataError, data_file, resolve_data_dir
from training.data.sentiment import load_semeval_train, load_sentipolc, load_tweeteval_sentiment, load_xlmt
from training.data.twcs import asks_to_dm, load_twcs_customer_tweets, load_twcs_tweets

__all__ = [
    "DATA_DIR_ENV",
    "DataError",
    "asks_to_dm",
    "care_it_val_original_ids",
    "complaints_test_ids",
    "data_file",
    "load_care",
    "load_care_it",
    "load_complaints",
    "load_ibm_conversations",
    "load_ibm_customer_tweets",
    "load_semeval_train",
    "load_sentipolc",
    "load_tweeteval_sentiment",
    "load_twcs_customer_tweets",
    "load_twcs_tweets",
    "load_xlmt",
    "normalised_text_key",
    "overlaps_with",
    "text_keys",
    "resolve_data_dir",
]
