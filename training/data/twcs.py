"""Customer Support on Twitter (TWCS, 2017) excerpts: raw tweets, rebuilt threads, weak DM labels.

The CSVs are read with a real CSV reader (texts contain commas, quotes and, upstream, bare `\\r`).
`brand_replies/*.csv` have no usable `response_tweet_id` (damaged upstream), so threads are linked
through `in_response_to_tweet_id` in both directions.

A brand reply that asks the customer to move to private messages (`asks_to_dm`) gives a weak DM
label to the customer tweet it answers. It reflects each brand's policy as much as the tweet's
need (AppleSupport asks in about half of its replies, Walmart almost never): compare it with the
`care` labels before relying on it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from datasets import Dataset, Features, List, Value

from training.data.paths import DataError, data_file, data_folder, relative_name, resolve_data_dir
from training.data.tables import rows_to_dataset

DEFAULT_TWCS_FILES: tuple[str, ...] = (
    "head5k",
    "random5k",
    "spotify_inbound",
    "kaggle_sample",
    "brand_replies/*",
)
"""Files read by default, relative to `twcs/`, without `.csv`; `brand_replies/*` means every brand."""

TWCS_ID_PREFIX = "twcs:"

TWCS_TWEET_FEATURES = Features(
    {
        "id": Value("string"),
        "tweet_id": Value("string"),
        "author_id": Value("string"),
        "inbound": Value("bool"),
        "created_at": Value("string"),
        "text": Value("string"),
        "response_tweet_id": List(Value("string")),
        "in_response_to_tweet_id": Value("string"),
        "file": Value("string"),
    }
)
"""Columns of `load_twcs_tweets`."""

TURN_FEATURE = {"author": Value("string"), "text": Value("string"), "created_at": Value("string")}

TWCS_CUSTOMER_FEATURES = Features(
    {
        "id": Value("string"),
        "text": Value("string"),
        "created_at": Value("string"),
        "brand": Value("string"),
        "context": List(TURN_FEATURE),
        "brand_reply": Value("string"),
        "dm_weak": Value("int64"),
        "thread_length": Value("int64"),
    }
)
"""Columns of `load_twcs_customer_tweets`."""

_REQUIRED_COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text", "in_response_to_tweet_id")
_TWCS_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # Tue Oct 31 22:10:47 +0000 2017
_BARE_CR = re.compile(r"\r(?!\n)")

# --- the weak DM label -------------------------------------------------------------------------

# What a private channel is called: DM(s), PM, direct / private message, a private (secure) link
# or chat (Sprint's wording); also in French (AskRBC), Spanish (NikeSupport) and Italian (our brands).
# "PM" after a number is a time of day ("open until 9 pm and on Sundays"), not a private message.
_DM_WORD = r"(?:dm|(?<!\d)(?<!\d\s)pm)"
_PRIVATE = (
    rf"(?:dm'?s?|(?<!\d)(?<!\d\s)pm'?s?|direct[ -]?messag(?:e|es|ing)|private[ -]?messag(?:e|es|ing)"
    r"|private\s+(?:secured?\s+)?(?:chat|link|channel)"
    r"|(?:messages?|mensajes?|messaggio|messaggi)\s+(?:priv[ée]s?|privados?|privati|privato|directos?|diretti|diretto))"
)
_DM_REQUEST = re.compile(
    "|".join(
        (
            # "DM us", "Please DM your order number", "DM which iOS version", "follow & DM @XboxSupport"
            rf"\b{_DM_WORD}(?:'?ing)?\s+(?:us|me|our|your|the|it|them|a|an|with|over|back|directly|details|those"
            r"|which|what|whether|when|where|how|any|if|ph|and|w|please|pls|ur|deets|full|exactly|tracking)\b",
            r"\b(?:please|pls|kindly),?\s+(?:dm|pm|direct[ -]?message|private[ -]?message)\b",
            r"\bfollow(?:\s+us)?\s+(?:and|&amp;|&)\s+dm\b",
            rf"\b{_DM_WORD}\s+(?:#|\(direct)",
            rf"\b{_DM_WORD}\s+@\w+",
            # "send us a DM", "shoot us a quick direct message", "sent a reply to your DM", "send the first DM"
            rf"\b(?:send|sending|sent|shoot|drop|dropped|dropping|give|pop|slide|pass)\s+"
            rf"(?:[\w']+\s+){{0,3}}?{_PRIVATE}",
            # "reach out via DM", "join us in a DM", "let's go to DM", "over private message", "into our DMs"
            rf"\b(?:via|by|through|over|in|into|to|using|thru|within|with|start|check)\s+"
            rf"(?:a\s+|an\s+|the\s+|our\s+|my\s+)?(?:previous\s+)?{_PRIVATE}",
            # The thread has already moved: "we've replied to your DM", "thanks for the DM", "see DM"
            rf"\byour\s+(?:latest\s+|recent\s+|previous\s+)?{_PRIVATE}",
            rf"\b(?:for|see|check)\s+the\s+{_PRIVATE}|\bthe\s+{_PRIVATE}\s+link",
            rf"\b(?:see|refer)\s+(?:to\s+)?{_PRIVATE}",
            # "Is it okay if we DM you", "we've DM'd you", "I'll PM you"
            rf"\b(?:we|i)(?:'ve|'ll|\s+will|\s+can|\s+could|\s+had|\s+have)?\s+{_DM_WORD}(?:'?d|'?ed)?\s+you\b",
            # "Can you DM us?", "could you please direct message"
            r"\b(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:dm|pm|direct[ -]?message|private[ -]?message)\b",
            # "Direct message us", "message us privately", "please DM." at the end of a sentence
            r"\b(?:direct|private)[ -]?message\s+(?:us|me)\b",
            r"\bmessage\s+(?:us|me)\s+(?:privately|directly|in private)\b",
            rf"\bplease\s+{_DM_WORD}\b",
            # "we're just a DM away", "I've enabled direct messaging", "DM: https://..."
            rf"\ba\s+{_PRIVATE}\s+away\b",
            rf"\b(?:enabled|opened)\s+(?:our\s+)?{_PRIVATE}",
            rf"\b{_DM_WORD}\s*[:(]?\s*https?://",
            # A link that opens a DM with the brand.
            r"twitter\.com/messages/compose",
            # "envíanos un MD", "écrivez-nous en MP / message privé", "scrivici in privato / in DM"
            r"\b(?:env[ií]a(?:nos)?|m[aá]nda(?:nos)?|escr[ií]be(?:nos)?)\s+(?:un\s+)?(?:md|dm|mensaje)\b",
            r"\ben\s+(?:md|mp|dm)\b",
            r"\b(?:scrivi(?:ci)?|contattaci|scriveteci)\s+(?:in\s+)?(?:privato|dm|direct)\b",
            # Malay (AirAsiaSupport: "DM kami" = DM us, "melalui DM" = via DM) and French "par DM".
            r"\bdm\s+kami\b|\bmelalui\s+dm\b|\bpar\s+(?:dm|mp)\b",
        )
    ),
    re.IGNORECASE,
)
# A bare mention does not count ("Do you have a DM? I mean a Deutsche Mark", "DM means direct
# message"): every pattern needs a request or a hand-over next to the DM word (a verb, a channel
# preposition, "your DM").


def asks_to_dm(reply_text: str) -> bool:
    """True when a brand's reply asks the customer to move to private messages (DM / PM / direct message)."""
    return bool(reply_text) and _DM_REQUEST.search(reply_text) is not None


# --- reading the CSVs --------------------------------------------------------------------------


# Fixed English names: calendar.month_abbr follows the locale.
_MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_TWCS_TIME = re.compile(r"\w{3} (\w{3}) (\d\d) (\d\d:\d\d:\d\d) \+0000 (\d{4})")


def to_iso_utc(twcs_time: str) -> str:
    """`Tue Oct 31 22:10:47 +0000 2017` -> `2017-10-31T22:10:47Z`."""
    # The corpus writes every time in UTC; parsing by hand is 10x faster than strptime on 58k rows.
    match = _TWCS_TIME.fullmatch(twcs_time.strip())
    if match is not None and match.group(1) in _MONTHS:
        month, day, clock, year = match.groups()
        return f"{year}-{_MONTHS[month]:02d}-{day}T{clock}Z"
    moment = datetime.strptime(twcs_time.strip(), _TWCS_TIME_FORMAT).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tweet_id(value: str) -> str | None:
    """`3.0` (written by pandas as a float) -> `3`; empty -> None."""
    value = value.strip()
    if not value:
        return None
    if value.endswith(".0"):
        value = value[:-2]
    return value if value.isdigit() else None


def _response_ids(value: str) -> list[str]:
    return [tweet_id for part in value.split(",") if (tweet_id := _tweet_id(part)) is not None]


def _expand_files(data_dir: Path, files: Sequence[str] | None) -> list[tuple[str, Path]]:
    """Resolve file names (relative to `twcs/`, `.csv` optional, `brand_replies/*`) through `data_file`."""
    chosen: list[tuple[str, Path]] = []
    if isinstance(files, str):
        files = [files]  # one name, not its characters
    for name in DEFAULT_TWCS_FILES if files is None else files:
        name = name.removesuffix(".csv")
        if name.endswith("/*"):
            folder = name[:-2]
            # The folder goes through the gate too: a glob must not even list `heldout/`.
            matches = sorted(data_folder(data_dir, "twcs", folder).glob("*.csv"))
            if not matches:
                raise DataError(f"no CSV files in twcs/{folder}/")
            chosen.extend(
                (f"{folder}/{match.name}", data_file(data_dir, "twcs", folder, match.name)) for match in matches
            )
        else:
            chosen.append((f"{name}.csv", data_file(data_dir, "twcs", f"{name}.csv")))
    return chosen


def _read_twcs_csv(data_dir: Path, file_name: str, path: Path) -> list[dict[str, Any]]:
    name = relative_name(data_dir, path)
    rows = []
    # utf-8-sig: the brand-reply files were saved by Excel and may start with a BOM. A bare "\r"
    # (not part of "\r\n") ends a row for the csv module even inside an unquoted text, so it
    # becomes a space first: rows end with "\r\n" or "\n" in every TWCS excerpt.
    with path.open(encoding="utf-8-sig", newline="") as handle:  # newline="": keep "\r" as it is
        content = _BARE_CR.sub(" ", handle.read())
    reader = csv.DictReader(io.StringIO(content, newline=""))
    missing = [column for column in _REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)}")
    has_responses = "response_tweet_id" in reader.fieldnames
    for record in reader:
        tweet_id = _tweet_id(record["tweet_id"] or "")
        inbound = (record["inbound"] or "").strip().lower()
        if tweet_id is None or inbound not in ("true", "false"):
            raise DataError(f"{name} line {reader.line_num}: bad tweet_id or inbound flag")
        try:
            created_at = to_iso_utc(record["created_at"] or "")
        except ValueError:
            raise DataError(f"{name} line {reader.line_num}: bad created_at") from None
        rows.append(
            {
                "id": f"{TWCS_ID_PREFIX}{tweet_id}",
                "tweet_id": tweet_id,
                "author_id": (record["author_id"] or "").strip(),
                "inbound": inbound == "true",
                "created_at": created_at,
                "text": record["text"] or "",
                # brand_replies' response_tweet_id was mangled by Excel: never trust it.
                "response_tweet_id": _response_ids(record.get("response_tweet_id") or "")
                if has_responses and not file_name.startswith("brand_replies/")
                else [],
                "in_response_to_tweet_id": _tweet_id(record["in_response_to_tweet_id"] or ""),
                "file": file_name,
            }
        )
    return rows


def _read_tweets(data_dir: Path, files: Sequence[str] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for file_name, path in _expand_files(data_dir, files):
        rows.extend(_read_twcs_csv(data_dir, file_name, path))
    return rows


def _merge_duplicates(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One tweet per tweet_id: the first file's row, with reply links merged from every copy."""
    tweets: dict[str, dict[str, Any]] = {}
    for row in rows:
        kept = tweets.get(row["tweet_id"])
        if kept is None:
            tweets[row["tweet_id"]] = {**row, "response_tweet_id": list(row["response_tweet_id"])}
            continue
        for child in row["response_tweet_id"]:
            if child not in kept["response_tweet_id"]:
                kept["response_tweet_id"].append(child)
        if kept["in_response_to_tweet_id"] is None:
            kept["in_response_to_tweet_id"] = row["in_response_to_tweet_id"]
    return tweets


def load_twcs_tweets(
    files: Sequence[str] | None = None, data_dir: str | Path | None = None, *, deduplicate: bool = False
) -> Dataset:
    """Load every tweet of the chosen TWCS files (default `DEFAULT_TWCS_FILES`); columns as `TWCS_TWEET_FEATURES`.

    A tweet present in several files (about 400 are) appears once per file unless `deduplicate`,
    which keeps the first file's row with the reply links of all copies merged.
    """
    directory = resolve_data_dir(data_dir)
    rows = _read_tweets(directory, files)
    if deduplicate:
        rows = list(_merge_duplicates(rows).values())
    return rows_to_dataset(rows, TWCS_TWEET_FEATURES)


# --- threads -----------------------------------------------------------------------------------


@dataclass
class _Threads:
    """The reply graph of a set of tweets."""

    tweets: dict[str, dict[str, Any]]
    parent: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    component: dict[str, str] = field(default_factory=dict)
    component_size: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, tweets: dict[str, dict[str, Any]]) -> "_Threads":
        threads = cls(tweets)
        for tweet_id, tweet in tweets.items():
            parent_id = tweet["in_response_to_tweet_id"]
            if parent_id is not None and parent_id in tweets and parent_id != tweet_id:
                threads._link(parent_id, tweet_id)
            for child_id in tweet["response_tweet_id"]:
                # Only fill links the child does not state itself: its own in_response_to wins.
                if child_id in tweets and child_id != tweet_id and tweets[child_id]["in_response_to_tweet_id"] is None:
                    threads._link(tweet_id, child_id)
        threads._find_components()
        return threads

    def _link(self, parent_id: str, child_id: str) -> None:
        if child_id in self.parent:
            return
        self.parent[child_id] = parent_id
        self.children.setdefault(parent_id, []).append(child_id)

    def _find_components(self) -> None:
        # Union-find over reply links: a thread is every tweet connected by them.
        root: dict[str, str] = {tweet_id: tweet_id for tweet_id in self.tweets}

        def find(tweet_id: str) -> str:
            while root[tweet_id] != tweet_id:
                root[tweet_id] = root[root[tweet_id]]
                tweet_id = root[tweet_id]
            return tweet_id

        for child_id, parent_id in self.parent.items():
            root[find(child_id)] = find(parent_id)
        for tweet_id in self.tweets:
            top = find(tweet_id)
            self.component[tweet_id] = top
            self.component_size[top] = self.component_size.get(top, 0) + 1

    def ancestors(self, tweet_id: str) -> list[str]:
        """Earlier tweets of the thread, oldest first (stops at a tweet we do not have, or a cycle)."""
        chain: list[str] = []
        seen = {tweet_id}
        current = self.parent.get(tweet_id)
        while current is not None and current not in seen:
            chain.append(current)
            seen.add(current)
            current = self.parent.get(current)
        return chain[::-1]

    def thread_length(self, tweet_id: str) -> int:
        return self.component_size[self.component[tweet_id]]


def _turn(tweet: dict[str, Any]) -> dict[str, str]:
    author = "customer" if tweet["inbound"] else "brand"
    return {"author": author, "text": tweet["text"], "created_at": tweet["created_at"]}


_MENTION = re.compile(r"(?<![\w@])@(\w+)")


def _addressed_brand(text: str, brands: dict[str, str]) -> str | None:
    """The first brand account (as spelled by the brand) mentioned in `text`, if any."""
    for handle in _MENTION.findall(text):
        brand = brands.get(handle.casefold())
        if brand is not None:
            return brand
    return None


def customer_tweet_rows(tweets: dict[str, dict[str, Any]], *, with_reply_only: bool = True) -> list[dict[str, Any]]:
    """Rows of `load_twcs_customer_tweets` from tweets keyed by tweet_id (merged as `_merge_duplicates` does)."""
    threads = _Threads.build(tweets)
    # Brand accounts are the authors of outbound tweets; customers' ids are anonymised numbers.
    brands = {tweet["author_id"].casefold(): tweet["author_id"] for tweet in tweets.values() if not tweet["inbound"]}
    rows = []
    for tweet_id, tweet in tweets.items():
        if not tweet["inbound"]:
            continue
        replies = sorted(
            (tweets[child] for child in threads.children.get(tweet_id, []) if not tweets[child]["inbound"]),
            key=lambda reply: (reply["created_at"], reply["tweet_id"]),
        )
        reply = replies[0] if replies else None
        if reply is None and with_reply_only:
            continue
        parent = tweets.get(threads.parent.get(tweet_id, ""))
        if reply is not None:
            brand = reply["author_id"]
        elif parent is not None and not parent["inbound"]:
            brand = parent["author_id"]
        else:
            brand = _addressed_brand(tweet["text"], brands)
        if brand is None:
            continue  # a customer talking to another customer: no place in a care thread
        rows.append(
            {
                "id": tweet["id"],
                "text": tweet["text"],
                "created_at": tweet["created_at"],
                "brand": brand,
                "context": [_turn(tweets[earlier]) for earlier in threads.ancestors(tweet_id)],
                "brand_reply": None if reply is None else reply["text"],
                "dm_weak": None if reply is None else int(asks_to_dm(reply["text"])),
                "thread_length": threads.thread_length(tweet_id),
            }
        )
    return rows


def load_twcs_customer_tweets(
    data_dir: str | Path | None = None, *, with_reply_only: bool = True, files: Sequence[str] | None = None
) -> Dataset:
    """One row per customer tweet placed in a TWCS thread; columns as `TWCS_CUSTOMER_FEATURES`.

    `brand` is the account that replied (its earliest reply), else the brand tweet it answers, else
    the first brand it mentions; tweets with none of these are left out. `context` holds the earlier
    turns, oldest first; `brand_reply` the earliest brand reply and `dm_weak` whether it asks to DM
    (`asks_to_dm`). With `with_reply_only` (the default) only tweets with a brand reply are kept;
    otherwise `brand_reply` and `dm_weak` are None where there is no reply. `thread_length` counts
    every tweet of the rebuilt thread.
    """
    directory = resolve_data_dir(data_dir)
    tweets = _merge_duplicates(_read_tweets(directory, files))
    return rows_to_dataset(customer_tweet_rows(tweets, with_reply_only=with_reply_only), TWCS_CUSTOMER_FEATURES)
