"""The data loaders: columns and types, row counts, the heldout gate, weak DM labels, TWCS threads.

Tests on the real data directory are skipped when it is missing; everything else runs on small
synthetic files written to tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.data import (
    DATA_DIR_ENV,
    DataError,
    asks_to_dm,
    care_it_val_original_ids,
    complaints_test_ids,
    data_file,
    load_care,
    load_care_it,
    load_complaints,
    load_ibm_conversations,
    load_ibm_customer_tweets,
    load_semeval_train,
    load_sentipolc,
    load_tweeteval_sentiment,
    load_twcs_customer_tweets,
    load_twcs_tweets,
    load_xlmt,
    normalised_text_key,
    overlaps_with,
    resolve_data_dir,
)
from training.data import paths
from training.data.care import CARE_FEATURES, CARE_IT_FEATURES
from training.data.complaints import COMPLAINTS_FEATURES
from training.data.ibm import IBM_CONVERSATION_FEATURES, IBM_CUSTOMER_FEATURES
from training.data.sentiment import SENTIMENT_FEATURES, SENTIPOLC_FEATURES, decode_semeval_escapes
from training.data.twcs import TWCS_CUSTOMER_FEATURES, TWCS_TWEET_FEATURES


def _real_data_dir() -> Path | None:
    try:
        return resolve_data_dir()
    except DataError:
        return None


REAL_DATA = _real_data_dir()
needs_data = pytest.mark.skipif(
    REAL_DATA is None, reason="the data directory (../shared/data or $TRIAGE_DATA_DIR) is missing"
)


@pytest.fixture(autouse=True)
def _pin_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the data directory found at import time, whatever a test before it set."""
    if REAL_DATA is not None:
        monkeypatch.setenv(DATA_DIR_ENV, str(REAL_DATA))
    else:
        monkeypatch.delenv(DATA_DIR_ENV, raising=False)


# --- a tiny synthetic data directory -----------------------------------------------------------


def _care_record(record_id: str, **overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": record_id, "text": "@brand my order never came, where is it?", "source": "synthetic",
        "complaint": 1, "question": 1, "praise": 0, "intent": "complaint",
        "sentiment": "negative", "urgency": 2, "dm": 1,
    }
    record.update(overrides)
    return record


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


@pytest.fixture
def fake_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    records = [_care_record("t1"), _care_record("t2", context=["@1 earlier turn"], brand="Acme")]
    _write_jsonl(root / "care" / "val.jsonl", records)
    _write_jsonl(root / "heldout" / "texts.jsonl", [{"id": "h1", "text": "never to be read"}])
    return root


# --- the data directory and the heldout gate ---------------------------------------------------


def test_configured_data_dir_wins(fake_data: Path) -> None:
    assert resolve_data_dir(fake_data) == fake_data.resolve()


def test_env_var_is_honoured(fake_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(fake_data))
    assert resolve_data_dir() == fake_data.resolve()
    assert load_care("val")["id"] == ["t1", "t2"]


def test_missing_data_dir_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "nowhere")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=DATA_DIR_ENV):
        load_care("train")
    # No configuration, no variable, and no ../shared/data next to the repo or the working directory.
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.setattr(paths, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="no data directory found"):
        resolve_data_dir()


@pytest.mark.parametrize(
    "parts",
    [
        ("heldout", "texts.jsonl"),
        ("care", "..", "heldout", "texts.jsonl"),
        ("HeldOut", "texts.jsonl"),
        ("heldout",),
    ],
)
def test_heldout_is_refused(fake_data: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(DataError, match="reserved for evaluation"):
        data_file(fake_data, *parts)


def test_heldout_is_refused_through_a_symlink(fake_data: Path) -> None:
    (fake_data / "innocent").symlink_to(fake_data / "heldout")
    (fake_data / "alias.jsonl").symlink_to(fake_data / "heldout" / "texts.jsonl")
    with pytest.raises(DataError, match="reserved for evaluation"):
        data_file(fake_data, "innocent", "texts.jsonl")
    with pytest.raises(DataError, match="reserved for evaluation"):
        data_file(fake_data, "alias.jsonl")


def test_a_data_dir_inside_heldout_is_refused(fake_data: Path) -> None:
    with pytest.raises(DataError, match="reserved for evaluation"):
        resolve_data_dir(fake_data / "heldout")


def test_paths_outside_the_data_dir_and_missing_files_are_refused(fake_data: Path) -> None:
    with pytest.raises(DataError, match="outside the data directory"):
        data_file(fake_data, "..", "elsewhere.txt")
    with pytest.raises(DataError, match="relative"):
        data_file(fake_data, "/etc/passwd")
    with pytest.raises(DataError, match="missing data file"):
        data_file(fake_data, "care", "train.jsonl")


def test_loaders_cannot_be_pointed_at_heldout(fake_data: Path) -> None:
    with pytest.raises(DataError, match="reserved for evaluation"):
        load_twcs_tweets(files=["../heldout/texts"], data_dir=fake_data)
    with pytest.raises(DataError, match="reserved for evaluation"):
        load_twcs_tweets(files=["../heldout/*"], data_dir=fake_data)
    with pytest.raises(DataError, match="unknown care split"):
        load_care("../heldout/texts", data_dir=fake_data)


# --- care validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"intent": "question"}, "tags derive 'complaint'"),
        ({"urgency": 4}, "urgency"),
        ({"sentiment": "angry"}, "sentiment"),
        ({"dm": True}, "`dm` must be 0 or 1"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_bad_care_record_names_file_and_line(fake_data: Path, override: dict[str, object], message: str) -> None:
    _write_jsonl(fake_data / "care" / "train.jsonl", [_care_record("t1"), _care_record("t2", **override)])
    with pytest.raises(DataError, match=rf"care/train\.jsonl line 2: .*{message}"):
        load_care("train", data_dir=fake_data)


def test_synthetic_care_columns(fake_data: Path) -> None:
    dataset = load_care("val", data_dir=fake_data)
    assert dataset.features == CARE_FEATURES
    assert dataset[0]["context"] == [] and dataset[0]["brand"] is None and dataset[0]["lang"] == "en"
    assert dataset[1]["context"] == ["@1 earlier turn"] and dataset[1]["brand"] == "Acme"


# --- the weak DM label -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "Please DM us your order number",
        "@115712 send us a direct message and we'll look into it",
        "Can you DM us?",
        "Please reach out to us via private message.",
        "Let's go to DM for the next steps. DM us here: https://t.co/x",
        "Select the following link to join us in a DM and we'll go from there.",
        "Shoot us a quick DM with your email address.",
        "We've replied to your DM, let's carry on there.",
        "Please PM us more info so we can follow up.",
        "We would need to get you into a private secured link to further assist.",
        "Envíanos un MD con el email antiguo y nuevo.",
    ],
)
def test_asks_to_dm_recognises_requests(reply: str) -> None:
    assert asks_to_dm(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "We'll send you a message when it ships",
        "Do you have a DM? I mean a Deutsche Mark",
        "DM means direct message!",
        "We're open until 9 pm and on Sundays",
        "Thanks for reaching out! The update is rolling out today.",
        "The DM settings page is being fixed.",
        "",
    ],
)
def test_asks_to_dm_ignores_non_requests(reply: str) -> None:
    assert not asks_to_dm(reply)


# --- TWCS threads on a synthetic CSV -----------------------------------------------------------

_TWCS_HEADER = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\r\n"


def _write_twcs(root: Path) -> None:
    (root / "twcs" / "brand_replies").mkdir(parents=True, exist_ok=True)
    # 10: customer opens; 11: brand asks to DM (linked both ways); 12: customer follows up (its
    # unquoted text has a bare \r, which must not split the row); 20: a customer tweet the brand
    # answers in brand_replies/, linked only through in_response_to_tweet_id; 30: no reply.
    (root / "twcs" / "threads.csv").write_bytes(
        (
            _TWCS_HEADER
            + '10,900,True,Tue Oct 31 22:00:00 +0000 2017,"@Acme my card was charged twice, help",11,\r\n'
            + '11,Acme,False,Tue Oct 31 22:05:00 +0000 2017,"@900 Sorry! Please DM us your order number",12,10.0\r\n'
            + "12,900,True,Tue Oct 31 22:10:00 +0000 2017,@Acme done\rsent it,,11.0\r\n"
            + '20,901,True,Wed Nov 01 09:00:00 +0000 2017,"@Acme love the new app",,\r\n'
            + '30,902,True,Wed Nov 01 10:00:00 +0000 2017,"@Acme hello?",,\r\n'
        ).encode("utf-8")
    )
    (root / "twcs" / "brand_replies" / "Acme.csv").write_bytes(
        (
            "\ufefftweet_id,author_id,inbound,created_at,text,in_response_to_tweet_id\r\n"
            "21,Acme,FALSE,Wed Nov 01 09:30:00 +0000 2017,@901 Thanks so much!,20\r\n"
        ).encode("utf-8")
    )


def test_twcs_threads_are_rebuilt(tmp_path: Path) -> None:
    _write_twcs(tmp_path)
    rows = {row["id"]: row for row in load_twcs_customer_tweets(tmp_path, files=["threads", "brand_replies/*"])}
    assert set(rows) == {"twcs:10", "twcs:20"}  # 12 has no reply yet, 30 no reply at all
    opening, praise = rows["twcs:10"], rows["twcs:20"]
    assert opening["brand"] == "Acme" and opening["context"] == [] and opening["dm_weak"] == 1
    assert opening["thread_length"] == 3 and opening["created_at"] == "2017-10-31T22:00:00Z"
    assert praise["brand"] == "Acme" and praise["dm_weak"] == 0 and praise["brand_reply"] == "@901 Thanks so much!"

    all_rows = load_twcs_customer_tweets(tmp_path, with_reply_only=False, files=["threads", "brand_replies/*"])
    everything = {row["id"]: row for row in all_rows}
    follow_up = everything["twcs:12"]
    assert [(turn["author"], turn["created_at"]) for turn in follow_up["context"]] == [
        ("customer", "2017-10-31T22:00:00Z"),
        ("brand", "2017-10-31T22:05:00Z"),
    ]
    assert follow_up["context"][1]["text"].endswith("Please DM us your order number")
    assert follow_up["brand"] == "Acme" and follow_up["brand_reply"] is None and follow_up["dm_weak"] is None
    assert follow_up["text"] == "@Acme done sent it"
    assert everything["twcs:30"]["brand"] == "Acme" and everything["twcs:30"]["thread_length"] == 1


def test_twcs_tweets_columns(tmp_path: Path) -> None:
    _write_twcs(tmp_path)
    tweets = load_twcs_tweets(files=["threads", "brand_replies/*"], data_dir=tmp_path)
    assert tweets.features == TWCS_TWEET_FEATURES
    by_id = {row["tweet_id"]: row for row in tweets}
    assert by_id["11"]["in_response_to_tweet_id"] == "10" and by_id["11"]["response_tweet_id"] == ["12"]
    assert by_id["21"]["file"] == "brand_replies/Acme.csv" and by_id["21"]["inbound"] is False
    assert by_id["10"]["in_response_to_tweet_id"] is None


# --- small helpers -----------------------------------------------------------------------------


def test_semeval_escapes_are_decoded() -> None:
    assert decode_semeval_escapes(r"Plus\u002c tomorrow it\u2019s \"big\" \m/") == 'Plus, tomorrow it’s "big" \\m/'
    assert decode_semeval_escapes(r"party \ud83c\udf89") == "party \U0001f389"


def test_normalised_text_key_matches_copies() -> None:
    assert normalised_text_key("@Delta THANKS so much!!! https://t.co/x") == normalised_text_key("@user thanks so much")
    texts = ["thanks", "my flight was cancelled twice today"]
    assert overlaps_with(texts, ["Thanks", "My flight was cancelled TWICE today!"]) == [False, True]


def test_sentipolc_test_with_text_file(tmp_path: Path) -> None:
    folder = tmp_path / "sentiment" / "sentipolc2016_it"
    folder.mkdir(parents=True)
    (folder / "sentipolc16_gold2000_text.csv").write_text(
        '"1","1","1","0","0","1","0","2","bello, davvero \\"bello\\""\n'
        '"2","1","1","1","0","1","1","2","misto"\n'
        '"3","0","0","0","1","0","0","2",ironia, pura, e semplice\n',
        encoding="utf-8",
    )
    dataset = load_sentipolc("test", data_dir=tmp_path)
    assert dataset["sentiment"] == ["positive", "neutral"] and dataset["irony"] == [0, 1]
    assert dataset["text"] == ['bello, davvero "bello"', "ironia, pura, e semplice"]


# --- the real data -----------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize(
    ("load", "rows", "features"),
    [
        (lambda: load_care("train"), 7113, CARE_FEATURES),
        (lambda: load_care("val"), 944, CARE_FEATURES),
        (lambda: load_care_it("train"), 1500, CARE_IT_FEATURES),
        (lambda: load_care_it("val"), 300, CARE_IT_FEATURES),
        (lambda: load_complaints("train"), 2766, COMPLAINTS_FEATURES),
        (lambda: load_complaints("test"), 683, COMPLAINTS_FEATURES),
        (lambda: load_semeval_train(), 47462, SENTIMENT_FEATURES),
        (lambda: load_tweeteval_sentiment("val"), 2000, SENTIMENT_FEATURES),
        (lambda: load_tweeteval_sentiment("test"), 12284, SENTIMENT_FEATURES),
        (lambda: load_sentipolc("train"), 6970, SENTIPOLC_FEATURES),
        (lambda: load_xlmt("italian", "test"), 870, SENTIMENT_FEATURES),
        (lambda: load_ibm_conversations("dev"), 391, IBM_CONVERSATION_FEATURES),
        (lambda: load_ibm_customer_tweets("test"), 455, IBM_CUSTOMER_FEATURES),
    ],
    ids=[
        "care-train", "care-val", "care_it-train", "care_it-val", "complaints-train", "complaints-test", "semeval",
        "tweeteval-val", "tweeteval-test", "sentipolc-train", "xlmt-it-test", "ibm-dev", "ibm-customers-test",
    ],
)
def test_real_counts_and_columns(load, rows: int, features) -> None:
    dataset = load()
    assert len(dataset) == rows
    assert dataset.features == features
    assert len(set(dataset["id"])) == rows, "ids must be unique"


@needs_data
def test_real_care_values() -> None:
    frame = load_care("train").to_pandas()
    assert set(frame["intent"]) == {"complaint", "question", "praise", "other"}
    assert set(frame["urgency"]) == {0, 1, 2, 3} and set(frame["lang"]) == {"en"}
    assert frame["context"].map(len).max() >= 1
    first = load_care_it("val")[0]
    assert first["lang"] == "it" and isinstance(first["orig_id"], str)


@needs_data
def test_real_sentiment_values() -> None:
    semeval = load_semeval_train()
    assert set(semeval["sentiment"]) == {"negative", "neutral", "positive"}
    assert not any("\\u002c" in text or "\\u2019" in text for text in semeval["text"])
    assert semeval[0]["id"].startswith("semeval:")
    assert load_tweeteval_sentiment("test")[0]["id"] == "tweeteval:test:1"
    assert len(load_semeval_train(dedupe=True)) == 47452


@needs_data
def test_real_sentipolc_test_has_no_text() -> None:
    with pytest.raises(DataError, match="no tweet text"):
        load_sentipolc("test")


@needs_data
def test_real_leaks_are_what_the_data_card_says() -> None:
    test_ids = complaints_test_ids()
    assert sum(record_id in test_ids for record_id in load_care("train")["id"]) == 263
    assert sum(record_id in test_ids for record_id in load_care("val")["id"]) == 47
    assert care_it_val_original_ids() <= set(load_care("train")["id"])


@needs_data
def test_real_twcs() -> None:
    customers = load_twcs_customer_tweets()
    assert customers.features == TWCS_CUSTOMER_FEATURES
    assert len(customers) > 5000 and set(customers["dm_weak"]) == {0, 1}
    assert all(turn["author"] in ("customer", "brand") for context in customers["context"] for turn in context)


@needs_data
def test_real_heldout_is_refused() -> None:
    assert REAL_DATA is not None
    with pytest.raises(DataError, match="reserved for evaluation"):
        data_file(REAL_DATA, "heldout", "texts.jsonl")
    with pytest.raises(DataError, match="reserved for evaluation"):
        data_file(REAL_DATA, "care", "..", "heldout", "texts_it.jsonl")

