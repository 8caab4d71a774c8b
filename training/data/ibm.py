"""IBM Twitter customer-care conversations (2020, 25 brands; Apache-2.0): `ibm_cdp/dev.json`, `test.json`.

Each conversation is a few customer turns (`client`, sometimes a second customer `client1`), maybe
some agent turns, and ends with the agent's tweet linking a help article (`agentURL`): that last
turn has no timestamp in the data. Real handles and some e-mail addresses appear in the texts, so
never print them; pass them through `model.normalise.normalise_tweet` to show any.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value

from training.data.paths import DataError, data_file, relative_name, resolve_data_dir
from training.data.tables import rows_to_dataset
from training.data.twcs import TURN_FEATURE

IBM_SPLITS = ("dev", "test")
IBM_ID_PREFIX = "ibm:"

IBM_TURN_FEATURE = {**TURN_FEATURE, "tweet_id": Value("string")}

IBM_CONVERSATION_FEATURES = Features(
    {
        "id": Value("string"),
        "company": Value("string"),
        "turns": List(IBM_TURN_FEATURE),
        "doc_id": Value("string"),
        "url": Value("string"),
    }
)
"""Columns of `load_ibm_conversations`."""

IBM_CUSTOMER_FEATURES = Features(
    {
        "id": Value("string"),
        "text": Value("string"),
        "brand": Value("string"),
        "context": List(TURN_FEATURE),
        "created_at": Value("string"),
    }
)
"""Columns of `load_ibm_customer_tweets`."""

# Speaker keys of a dialogContent turn: the customer (a second one is `client1`) or the agent.
_AUTHORS = {"client": "customer", "client1": "customer", "agent": "brand"}


def _iso_utc(value: str) -> str:
    """`2020-04-01T17:31:32.000Z` -> `2020-04-01T17:31:32Z` (the TWCS loaders' format)."""
    moment = datetime.fromisoformat(value.strip()).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _conversation(raw: Any, where: str) -> dict[str, Any]:
    try:
        header, content, agent_url = raw["dialogHeader"], raw["dialogContent"], raw["agentURL"]
        turns = []
        for turn in content:
            speaker = next(key for key in _AUTHORS if key in turn)
            turns.append(
                {
                    "author": _AUTHORS[speaker],
                    "text": turn["message"],
                    "created_at": _iso_utc(turn["datetime"]),
                    "tweet_id": str(turn["tweet_ID"]),
                }
            )
        # The closing agent tweet (the one with the article link) carries no timestamp.
        closing = {"author": "brand", "text": agent_url["url_utterance"], "created_at": None}
        turns.append({**closing, "tweet_id": str(agent_url["tweet_ID"])})
        return {
            "id": f"{IBM_ID_PREFIX}{header['sessionID']}",
            "company": header["company"],
            "turns": turns,
            "doc_id": str(agent_url["doc_id"]),
            "url": agent_url["url"],
        }
    except (KeyError, TypeError, StopIteration, ValueError):
        raise DataError(f"{where}: not a conversation in the IBM format") from None


def _read_conversations(split: str, data_dir: str | Path | None) -> list[dict[str, Any]]:
    if split not in IBM_SPLITS:
        raise DataError(f"unknown IBM split {split!r}: expected one of {', '.join(IBM_SPLITS)}")
    directory = resolve_data_dir(data_dir)
    path = data_file(directory, "ibm_cdp", f"{split}.json")
    name = relative_name(directory, path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise DataError(f"{name}: not valid JSON") from None
    if not isinstance(raw, list):
        raise DataError(f"{name}: expected a list of conversations")
    return [_conversation(item, f"{name} conversation {index}") for index, item in enumerate(raw)]


def load_ibm_conversations(split: str, data_dir: str | Path | None = None) -> Dataset:
    """One row per conversation of `ibm_cdp/<split>.json` (dev or test); columns as `IBM_CONVERSATION_FEATURES`."""
    return rows_to_dataset(_read_conversations(split, data_dir), IBM_CONVERSATION_FEATURES)


def load_ibm_customer_tweets(split: str, data_dir: str | Path | None = None) -> Dataset:
    """One row per customer turn (`ibm:<tweet_ID>`), with its brand and earlier turns as `context`.

    A tweet that opens two conversations (3 in dev) is kept once, from the first.
    """
    rows = []
    seen: set[str] = set()
    for conversation in _read_conversations(split, data_dir):
        turns = conversation["turns"]
        for index, turn in enumerate(turns):
            if turn["author"] != "customer" or turn["tweet_id"] in seen:
                continue
            seen.add(turn["tweet_id"])
            rows.append(
                {
                    "id": f"{IBM_ID_PREFIX}{turn['tweet_id']}",
                    "text": turn["text"],
                    "brand": conversation["company"],
                    "context": [
                        {"author": earlier["author"], "text": earlier["text"], "created_at": earlier["created_at"]}
                        for earlier in turns[:index]
                    ],
                    "created_at": turn["created_at"],
                }
            )
    return rows_to_dataset(rows, IBM_CUSTOMER_FEATURES)
