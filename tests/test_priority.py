"""The priority policy (model/priority.py, model/policies/default.toml): ranks, waits, reasons, wording."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from model.priority import (
    DEFAULT_POLICY_PATH,
    RANKS,
    REASON_CODES,
    SUPPORTED_LOCALES,
    PolicyError,
    PriorityPolicy,
    PrioritySignals,
    load_policy,
    policy_from_dict,
    prioritise,
)
from model.records import Author, Turn

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
RESULT_KEYS = {"rank", "score", "respond_by", "reasons", "reason_codes", "badge"}


@pytest.fixture(scope="module")
def policy() -> PriorityPolicy:
    return load_policy()


def default_data() -> dict[str, Any]:
    with DEFAULT_POLICY_PATH.open("rb") as handle:
        return tomllib.load(handle)


def variant(**changes: Any) -> PriorityPolicy:
    """The default policy with dotted keys changed, e.g. variant(**{"waiting.report_from_fraction": 1.0})."""
    data = default_data()
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        table = data
        for parent in parents:
            table = table[parent]
        table[key] = value
    return policy_from_dict(data)


def signals(**changes: Any) -> PrioritySignals:
    """A plain question of normal urgency, written just now; override any field."""
    fields: dict[str, Any] = dict(
        intent_label="question", intent_tags=("question",), sentiment_label="neutral",
        sentiment_score=0.0, urgency_level=1, urgency_score=0.4, dm_suggest=False, dm_reasons=(),
        created_at=NOW,
    )
    fields.update(changes)
    return PrioritySignals(**fields)


def hacked_account(**changes: Any) -> PrioritySignals:
    return signals(**{**dict(
        intent_label="complaint", intent_tags=("complaint", "question"), sentiment_label="negative",
        sentiment_score=-0.8, urgency_level=3, urgency_score=0.9, dm_suggest=True,
        dm_reasons=("security_concern",)), **changes})


def high_complaint(**changes: Any) -> PrioritySignals:
    """A P2 complaint under the default policy (blocked customer, negative)."""
    return signals(**{**dict(
        intent_label="complaint", intent_tags=("complaint",), sentiment_label="negative",
        sentiment_score=-0.6, urgency_level=2, urgency_score=0.6), **changes})


def borderline_complaint(**changes: Any) -> PrioritySignals:
    """A normal-urgency negative complaint, P3 but a few points short of P2 (score 47)."""
    return signals(**{**dict(
        intent_label="complaint", intent_tags=("complaint",), sentiment_label="negative",
        sentiment_score=-0.8, urgency_level=1, urgency_score=0.5), **changes})


def praise(**changes: Any) -> PrioritySignals:
    return signals(**{**dict(
        intent_label="praise", intent_tags=("praise",), sentiment_label="positive",
        sentiment_score=0.9, urgency_level=0, urgency_score=0.05), **changes})


def rank_index(rank: str) -> int:
    return RANKS.index(rank)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the policy file -------------------------------------------------------------------------


def test_shipped_default_policy_loads(policy: PriorityPolicy) -> None:
    assert DEFAULT_POLICY_PATH.name == "default.toml"
    assert DEFAULT_POLICY_PATH.parent == Path(__file__).parents[1] / "model" / "policies"
    assert policy.name == "default" and policy.version
    assert policy.label == f"{policy.name}@{policy.version}"
    assert [rank.name for rank in policy.ranks] == list(RANKS)
    assert [rank.target_minutes for rank in policy.ranks] == [15, 60, 240, 1440]
    assert policy.ranks[0].color == "#d93025" and policy.ranks[1].color == "#e8710a"
    assert set(policy.words) == set(SUPPORTED_LOCALES)
    assert load_policy(DEFAULT_POLICY_PATH) == policy
    assert load_policy(str(DEFAULT_POLICY_PATH)) == policy
    assert load_policy(default_data()).weights == policy.weights  # a dict is accepted too


def test_policy_is_frozen(policy: PriorityPolicy) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.weights.intent["complaint"] = 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("dotted", "value", "key"),
    [
        ("weights.negativty", 15, "weights.negativty"),  # a typo is an unknown key
        ("colour", "red", "colour"),
        ("ranks.P1.colour", "#ff0000", "ranks.P1.colour"),
        ("words.en.reasons.waited_secs", "x", "words.en.reasons.waited_secs"),
        ("words.fr", {}, "words.fr"),
    ],
)
def test_unknown_key_is_refused_naming_it(dotted: str, value: Any, key: str) -> None:
    with pytest.raises(PolicyError, match=f"unknown key `{key}`"):
        variant(**{dotted: value})


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("weights.negativity", "15", r"`weights\.negativity` must be a number"),
        ("weights.negativity", True, r"`weights\.negativity` must be a number"),
        ("weights.negativity", -1, r"`weights\.negativity` must be >= 0"),
        ("ranks.P2.target_minutes", 60.5, r"`ranks\.P2\.target_minutes` must be an integer"),
        ("ranks.P2.color", "orange", r"`ranks\.P2\.color` must be a colour"),
        ("ranks.P3.min_score", 80, r"`ranks\.P2\.min_score` must be above `ranks\.P3\.min_score`"),
        ("ranks.P1.target_minutes", 90, r"`ranks\.P1\.target_minutes` must not exceed"),
        ("weights.urgency_level", [0, 30, 20, 40], r"`weights\.urgency_level` must not decrease"),
        ("weights.urgency_level", [0, 10], r"`weights\.urgency_level` must be a list of 4"),
        ("waiting.escalate_after_fraction", 1.5, r"`waiting\.escalate_after_fraction` must be <= 1"),
        ("waiting.never_escalate_intents", ["chitchat"], r"`waiting\.never_escalate_intents`.*'chitchat'"),
        ("words.it.reasons.waited_minutes", "attesa {minuti}", r"`words\.it\.reasons\.waited_minutes`.*\{minuti\}"),
        ("words.en.badge", "{rank", r"`words\.en\.badge` has unbalanced braces"),
        ("words.en.reasons.large_audience", "{followers:d} followers", r"`words\.en\.reasons\.large_audience` cannot be"),
        ("reach", [], r"`reach` must be a table"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(dotted: str, value: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        variant(**{dotted: value})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("dotted", ["reach.verified_points", "words.it.intents.praise", "waiting"])
def test_missing_key_is_refused_no_hidden_defaults(dotted: str) -> None:
    data = default_data()
    *parents, key = dotted.split(".")
    table = data
    for parent in parents:
        table = table[parent]
    del table[key]
    with pytest.raises(PolicyError, match=f"missing key `{dotted}`"):
        policy_from_dict(data)


def test_unknown_key_in_a_toml_file(tmp_path: Path) -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    path = tmp_path / "brand.toml"
    path.write_text(text.replace("[reach]\n", "[reach]\nhuge_followers = 1000000\n"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"brand\.toml: unknown key `reach\.huge_followers`"):
        load_policy(path)


def test_unreadable_or_invalid_files_are_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[weights\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)


def test_a_reloaded_file_takes_effect_without_retraining(tmp_path: Path) -> None:
    path = tmp_path / "brand.toml"
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    assert prioritise(signals(), load_policy(path), NOW)["rank"] == "P3"
    # The brand decides questions deserve an answer within the hour.
    path.write_text(text.replace("question = 12\n", "question = 40\n", 1), encoding="utf-8")
    assert prioritise(signals(), load_policy(path), NOW)["rank"] == "P2"


# --- ranks -----------------------------------------------------------------------------------


def test_hacked_account_is_p1(policy: PriorityPolicy) -> None:
    result = prioritise(hacked_account(), policy, NOW)
    assert set(result) == RESULT_KEYS
    assert result["rank"] == "P1"
    assert result["reasons"][0] == "critical urgency"
    assert {"urgency_critical", "complaint", "negative", "security_concern"} <= set(result["reason_codes"])
    assert "security concern" in result["reasons"]
    assert result["badge"] == {"text": "P1 · Complaint", "color": "#d93025"}
    assert result["respond_by"] == iso(NOW + timedelta(minutes=15))


def test_plain_question_is_p3_and_p2_once_past_its_target(policy: PriorityPolicy) -> None:
    fresh = prioritise(signals(), policy, NOW)
    assert fresh["rank"] == "P3"
    assert fresh["reason_codes"] == ["question"]  # normal urgency is no reason
    assert fresh["badge"] == {"text": "P3 · Question", "color": policy.ranks[2].color}
    assert prioritise(signals(), policy, NOW + timedelta(minutes=240))["rank"] == "P3"
    late = prioritise(signals(), policy, NOW + timedelta(minutes=241))
    assert rank_index(late["rank"]) <= rank_index("P2")
    assert late["reason_codes"][0] == "waited"
    assert late["reasons"][0] == "waited 4 h 1 min of 4 h"
    assert late["score"] >= policy.ranks[1].min_score


@pytest.mark.parametrize(
    ("minutes", "report_from", "rank", "wait_reason"),
    [
        (30, 0.75, "P2", None),
        (59, 0.75, "P2", "waited 59 min of 60"),  # the default policy reports waits from 45 min
        (59, 1.0, "P2", None),  # a policy that reports a wait only once it escalates
        (60, 1.0, "P2", "waited 60 min of 60"),  # escalation needs the target to be *past*
        (61, 0.75, "P1", "waited 61 min of 60"),
        (61, 1.0, "P1", "waited 61 min of 60"),
    ],
)
def test_waiting_escalates_a_p2_complaint_past_the_hour(
    minutes: int, report_from: float, rank: str, wait_reason: str | None
) -> None:
    policy = variant(**{"waiting.report_from_fraction": report_from})
    assert prioritise(high_complaint(), policy, NOW)["rank"] == "P2"
    result = prioritise(high_complaint(), policy, NOW + timedelta(minutes=minutes))
    assert result["rank"] == rank
    if wait_reason is None:
        assert "waited" not in result["reason_codes"]
    elif rank == "P1":  # it raised the rank: the first reason
        assert result["reasons"][0] == wait_reason and result["reason_codes"][0] == "waited"
    else:  # only reported: listed after the factors that set the rank
        assert result["reasons"][-1] == wait_reason and result["reason_codes"][-1] == "waited"
    target = 15 if rank == "P1" else 60
    assert result["respond_by"] == iso(NOW + timedelta(minutes=target))


def test_escalation_fraction_is_a_policy_setting() -> None:
    early = variant(**{"waiting.escalate_after_fraction": 0.9})
    assert prioritise(high_complaint(), early, NOW + timedelta(minutes=54))["rank"] == "P2"
    result = prioritise(high_complaint(), early, NOW + timedelta(minutes=55))
    assert result["rank"] == "P1" and result["reasons"][0] == "waited 55 min of 60"


def test_escalation_is_one_step_only(policy: PriorityPolicy) -> None:
    days_later = NOW + timedelta(days=3)
    assert prioritise(signals(), policy, days_later)["rank"] == "P2"  # P3 -> P2, not P1
    result = prioritise(hacked_account(), policy, days_later)  # P1 cannot go higher, still says why
    assert result["rank"] == "P1" and "waited" in result["reason_codes"]


@pytest.mark.parametrize("wait", [timedelta(hours=2), timedelta(days=1, minutes=1), timedelta(days=7)])
@pytest.mark.parametrize("make", [praise, lambda: signals(intent_label="other", intent_tags=(), urgency_level=0)])
def test_praise_and_chitchat_stay_p4_whatever_the_wait(policy: PriorityPolicy, wait: timedelta, make: Any) -> None:
    result = prioritise(make(), policy, NOW + wait)
    assert result["rank"] == "P4"
    assert "waited" not in result["reason_codes"]
    assert result["respond_by"] == iso(NOW + timedelta(days=1))


def test_never_escalate_is_a_policy_setting() -> None:
    policy = variant(**{"waiting.never_escalate_intents": []})
    result = prioritise(praise(), policy, NOW + timedelta(days=1, minutes=1))
    assert result["rank"] == "P3"
    assert result["reasons"] == ["waited 24 h 1 min of 24 h"]
    # Praise with urgency above the exemption level escalates like anything else.
    urgent_praise = praise(urgency_level=1, urgency_score=0.3)
    assert prioritise(urgent_praise, load_policy(), NOW + timedelta(days=2))["rank"] == "P3"


def turns(*authors: str) -> tuple[Turn, ...]:
    return tuple(Turn(author=author, text="…") for author in authors)


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        (turns("customer"), "2nd message without reply"),
        (turns("customer", "brand", "customer", "customer"), "3rd message without reply"),
        (turns("brand", "customer", "customer", "customer"), "4th message without reply"),
        (turns(*["customer"] * 10), "11th message without reply"),
        (turns(*["customer"] * 20), "21st message without reply"),
        (turns(*["customer"] * 21), "22nd message without reply"),
    ],
)
def test_repeated_contact_is_a_reason_with_its_ordinal(policy: PriorityPolicy, context: tuple[Turn, ...], reason: str) -> None:
    result = prioritise(borderline_complaint(context=context), policy, NOW)
    assert reason in result["reasons"]
    assert result["reasons"].index(reason) == result["reason_codes"].index("repeat_contact")


def test_repeated_contact_raises_the_rank(policy: PriorityPolicy) -> None:
    alone = prioritise(borderline_complaint(), policy, NOW)
    third = prioritise(borderline_complaint(context=turns("customer", "brand", "customer", "customer")), policy, NOW)
    assert alone["rank"] == "P3"
    assert third["rank"] == "P2" and third["score"] > alone["score"]
    assert "3rd message without reply" in third["reasons"]


def test_a_brand_reply_resets_the_repeat_count(policy: PriorityPolicy) -> None:
    result = prioritise(borderline_complaint(context=turns("customer", "customer", "brand")), policy, NOW)
    assert "repeat_contact" not in result["reason_codes"]
    assert result == prioritise(borderline_complaint(context=turns("brand")), policy, NOW)


def test_long_thread_raises_the_rank(policy: PriorityPolicy) -> None:
    alternating = turns("customer", "brand", "customer", "brand", "customer", "brand")
    short = prioritise(borderline_complaint(context=alternating[-2:]), policy, NOW)
    long = prioritise(borderline_complaint(context=alternating), policy, NOW)
    assert short["rank"] == "P3" and "long_thread" not in short["reason_codes"]
    assert long["rank"] == "P2"
    assert "long thread (7 messages)" in long["reasons"]
    assert "repeat_contact" not in long["reason_codes"]
    # Five messages are not yet a long thread (past five exchanges is).
    five = prioritise(borderline_complaint(context=alternating[-4:]), policy, NOW)
    assert "long_thread" not in five["reason_codes"]


@pytest.mark.parametrize(
    ("author", "code", "reason"),
    [
        (Author(followers=120_000), "large_audience", "large audience (120k followers)"),
        (Author(followers=1_500_000), "large_audience", "large audience (1.5M followers)"),
        (Author(followers=10_000), "large_audience", "large audience (10k followers)"),
        (Author(verified=True), "verified", "verified author"),
    ],
)
def test_reach_raises_the_rank(policy: PriorityPolicy, author: Author, code: str, reason: str) -> None:
    plain = prioritise(borderline_complaint(), policy, NOW)
    reached = prioritise(borderline_complaint(author=author), policy, NOW)
    assert plain["rank"] == "P3" and reached["rank"] == "P2"
    assert reason in reached["reasons"] and code in reached["reason_codes"]


@pytest.mark.parametrize("author", [Author(followers=9_999), Author(followers=None, verified=False), Author()])
def test_small_unverified_authors_add_nothing(policy: PriorityPolicy, author: Author) -> None:
    assert prioritise(borderline_complaint(author=author), policy, NOW) == prioritise(borderline_complaint(), policy, NOW)


# --- respond_by, score ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "waited"),
    [
        (hacked_account, timedelta(0)),
        (high_complaint, timedelta(minutes=30)),
        (high_complaint, timedelta(minutes=61)),  # escalated: P1's target counts
        (signals, timedelta(hours=5)),
        (praise, timedelta(days=2)),
    ],
)
def test_respond_by_is_created_at_plus_the_final_ranks_target(policy: PriorityPolicy, make: Any, waited: timedelta) -> None:
    created = datetime(2026, 11, 23, 9, 12, 30, tzinfo=timezone.utc)
    result = prioritise(make(created_at=created), policy, created + waited)
    target = policy.ranks[rank_index(result["rank"])].target_minutes
    assert result["respond_by"] == iso(created + timedelta(minutes=target))
    assert result["respond_by"].endswith("Z")


def test_created_at_in_another_zone_gives_utc_respond_by(policy: PriorityPolicy) -> None:
    rome = timezone(timedelta(hours=1))
    created = datetime(2026, 11, 23, 11, 0, tzinfo=rome)
    assert prioritise(signals(created_at=created), policy, NOW)["respond_by"] == "2026-11-23T14:00:00Z"


def test_missing_created_at_uses_now(policy: PriorityPolicy) -> None:
    result = prioritise(high_complaint(created_at=None), policy, NOW)
    assert result["rank"] == "P2"
    assert result["respond_by"] == iso(NOW + timedelta(minutes=60))
    assert "waited" not in result["reason_codes"]


def test_created_in_the_future_counts_as_no_wait(policy: PriorityPolicy) -> None:
    # Clock skew between the platform and us must not crash nor escalate.
    result = prioritise(high_complaint(created_at=NOW + timedelta(minutes=5)), policy, NOW)
    assert result["rank"] == "P2" and "waited" not in result["reason_codes"]


GRID_LEVELS = (0, 1, 2, 3)
GRID_URGENCY_SCORES = (0.0, 0.3, 0.7, 1.0)
GRID_SENTIMENTS = (1.0, 0.4, 0.0, -0.3, -0.7, -1.0)  # from positive to furious
GRID_INTENTS = ("complaint", "question", "praise", "other")
GRID_WAITS = (timedelta(0), timedelta(minutes=50), timedelta(minutes=70), timedelta(hours=5), timedelta(days=2))
GRID_EXTRAS = (
    {},
    {"dm_suggest": True, "dm_reasons": ("security_concern", "personal_data_exposed")},
    {"context": turns("customer", "customer", "customer", "customer"), "author": Author(followers=10**7, verified=True)},
)


def grid_signals(intent: str, extras: dict[str, Any], level: int, urgency: float, sentiment: float) -> PrioritySignals:
    return signals(intent_label=intent, intent_tags=() if intent == "other" else (intent,),
                   sentiment_label="negative" if sentiment < 0 else "neutral" if sentiment == 0 else "positive",
                   sentiment_score=sentiment, urgency_level=level, urgency_score=urgency, **extras)


@pytest.mark.parametrize("policy_name", ["default", "heavy"])
@pytest.mark.parametrize("extras", GRID_EXTRAS, ids=["plain", "dm", "reach+repeat"])
@pytest.mark.parametrize("intent", GRID_INTENTS)
def test_score_is_bounded_and_monotone_in_urgency_and_negativity(policy_name: str, extras: dict[str, Any], intent: str) -> None:
    # "heavy": weights far above 100 points, to check clamping.
    policy = load_policy() if policy_name == "default" else variant(
        **{"weights.negativity": 80, "weights.urgency_level": [10, 60, 90, 150], "weights.intent.other": 30}
    )
    for wait in GRID_WAITS:
        results = {
            (level, urgency, sentiment): prioritise(grid_signals(intent, extras, level, urgency, sentiment), policy, NOW + wait)
            for level, urgency, sentiment in itertools.product(GRID_LEVELS, GRID_URGENCY_SCORES, GRID_SENTIMENTS)
        }
        for result in results.values():
            assert isinstance(result["score"], int) and 0 <= result["score"] <= 100
            # Score and rank always agree.
            assert result["score"] >= policy.ranks[rank_index(result["rank"])].min_score
            assert len(result["reasons"]) == len(result["reason_codes"]) <= policy.reasons.max_reasons
            assert set(result["reason_codes"]) <= set(REASON_CODES)
        for (level, urgency, sentiment), result in results.items():
            # One step up in urgency level, urgency score or negativity never lowers score or rank.
            neighbours = []
            if level < 3:
                neighbours.append((level + 1, urgency, sentiment))
            if urgency < 1.0:
                neighbours.append((level, GRID_URGENCY_SCORES[GRID_URGENCY_SCORES.index(urgency) + 1], sentiment))
            if sentiment > -1.0:
                neighbours.append((level, urgency, GRID_SENTIMENTS[GRID_SENTIMENTS.index(sentiment) + 1]))
            for key in neighbours:
                higher = results[key]
                assert higher["score"] >= result["score"], (key, wait)
                assert rank_index(higher["rank"]) <= rank_index(result["rank"]), (key, wait)


def test_score_rises_with_waiting_never_falls(policy: PriorityPolicy) -> None:
    previous = None
    for minutes in range(0, 3 * 24 * 60, 7):
        result = prioritise(signals(), policy, NOW + timedelta(minutes=minutes))
        if previous is not None:
            assert result["score"] >= previous["score"]
            assert rank_index(result["rank"]) <= rank_index(previous["rank"])
        previous = result


# --- reasons and wording ---------------------------------------------------------------------


def test_reasons_are_most_important_first_and_capped() -> None:
    policy = load_policy()
    loaded = hacked_account(context=turns("customer", "customer"), author=Author(followers=50_000, verified=True),
                            dm_reasons=("security_concern", "personal_data_exposed"))
    result = prioritise(loaded, policy, NOW)
    assert result["reason_codes"] == ["urgency_critical", "repeat_contact", "complaint", "negative"]
    assert len(result["reasons"]) == policy.reasons.max_reasons
    longer = prioritise(loaded, variant(**{"reasons.max_reasons": 10}), NOW)
    assert longer["reason_codes"][:4] == result["reason_codes"]
    assert {"security_concern", "personal_data_exposed", "large_audience", "verified"} <= set(longer["reason_codes"])
    assert "dm_suggested" not in longer["reason_codes"]  # 3 points: under min_points


def test_a_reported_wait_keeps_its_slot_when_reasons_are_capped(policy: PriorityPolicy) -> None:
    loaded = borderline_complaint(context=turns("customer"), author=Author(followers=50_000))
    result = prioritise(loaded, policy, NOW + timedelta(minutes=50))
    assert result["rank"] == "P2"
    assert len(result["reasons"]) == policy.reasons.max_reasons
    assert result["reason_codes"][-1] == "waited" and result["reasons"][-1] == "waited 50 min of 60"


@pytest.mark.parametrize(
    ("make", "minutes", "english", "italian"),
    [
        (hacked_account, 0, ["critical urgency", "complaint", "negative", "security concern"],
         ["urgenza critica", "reclamo", "negativo", "rischio di sicurezza"]),
        (high_complaint, 61, ["waited 61 min of 60", "high urgency", "complaint", "negative"],
         ["attesa 61 min su 60", "urgenza alta", "reclamo", "negativo"]),
        (lambda: borderline_complaint(context=turns("customer", "customer"), author=Author(followers=120_000)), 0,
         ["3rd message without reply", "complaint", "negative", "large audience (120k followers)"],
         ["3° messaggio senza risposta", "reclamo", "negativo", "pubblico ampio (120k follower)"]),
        (signals, 241, ["waited 4 h 1 min of 4 h", "question"], ["attesa 4 h 1 min su 4 h", "domanda"]),
    ],
)
def test_italian_wording_with_identical_codes_and_ranks(
    policy: PriorityPolicy, make: Any, minutes: int, english: list[str], italian: list[str]
) -> None:
    now = NOW + timedelta(minutes=minutes)
    en = prioritise(make(), policy, now)
    it = prioritise(make(), policy, now, locale="it")
    assert en["reasons"] == english
    assert it["reasons"] == italian
    for key in ("rank", "score", "respond_by", "reason_codes"):
        assert en[key] == it[key]
    assert en["badge"]["color"] == it["badge"]["color"]


@pytest.mark.parametrize(
    ("intent", "english", "italian"),
    [("complaint", "Complaint", "Reclamo"), ("question", "Question", "Domanda"),
     ("praise", "Praise", "Elogio"), ("other", "Other", "Altro")],
)
def test_badge_is_rank_and_primary_intent_in_the_locale(policy: PriorityPolicy, intent: str, english: str, italian: str) -> None:
    tweet = signals(intent_label=intent, intent_tags=() if intent == "other" else (intent,))
    en = prioritise(tweet, policy, NOW)
    assert en["badge"]["text"] == f"{en['rank']} · {english}"
    assert prioritise(tweet, policy, NOW, locale="it")["badge"]["text"] == f"{en['rank']} · {italian}"


def test_italian_decimals_use_a_comma(policy: PriorityPolicy) -> None:
    result = prioritise(borderline_complaint(author=Author(followers=1_500_000)), policy, NOW, locale="it")
    assert "pubblico ampio (1,5M follower)" in result["reasons"]


@pytest.mark.parametrize("locale", ["fr", "", "EN", "it-IT"])
def test_unsupported_locale_falls_back_to_english(policy: PriorityPolicy, locale: str) -> None:
    assert prioritise(hacked_account(), policy, NOW, locale=locale) == prioritise(hacked_account(), policy, NOW)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_reason_code_is_worded_in_every_locale(policy: PriorityPolicy, locale: str) -> None:
    worded = set(policy.words[locale].reasons)
    for code in REASON_CODES:
        assert code in worded or code == "waited"
    assert {"waited_minutes", "waited_hours"} <= worded


# --- robustness and purity ------------------------------------------------------------------


def test_unknown_intent_and_dm_reason_count_as_nothing(policy: PriorityPolicy) -> None:
    odd = signals(intent_label="refund", intent_tags=("refund",), dm_reasons=("weird_reason",), urgency_level=0)
    result = prioritise(odd, policy, NOW)
    assert result["badge"]["text"] == "P4 · Other"
    assert result["reason_codes"] == []


def test_out_of_range_signals_are_clamped(policy: PriorityPolicy) -> None:
    wild = prioritise(hacked_account(urgency_level=7, urgency_score=3.0, sentiment_score=-5.0), policy, NOW)
    assert wild == prioritise(hacked_account(urgency_level=3, urgency_score=1.0, sentiment_score=-1.0), policy, NOW)
    low = prioritise(signals(urgency_level=-1, urgency_score=-0.5), policy, NOW)
    assert low == prioritise(signals(urgency_level=0, urgency_score=0.0), policy, NOW)


def test_nan_scores_count_as_nothing(policy: PriorityPolicy) -> None:
    nan = float("nan")
    assert prioritise(high_complaint(urgency_score=nan, sentiment_score=nan), policy, NOW) == prioritise(
        high_complaint(urgency_score=0.0, sentiment_score=0.0), policy, NOW
    )


def test_repeated_dm_reasons_count_once(policy: PriorityPolicy) -> None:
    twice = borderline_complaint(dm_suggest=True, dm_reasons=("heated_exchange", "heated_exchange"))
    once = borderline_complaint(dm_suggest=True, dm_reasons=("heated_exchange",))
    assert prioritise(twice, policy, NOW) == prioritise(once, policy, NOW)
    assert prioritise(once, policy, NOW)["score"] > prioritise(borderline_complaint(), policy, NOW)["score"]


def test_naive_now_is_taken_as_utc(policy: PriorityPolicy) -> None:
    naive = (NOW + timedelta(minutes=61)).replace(tzinfo=None)
    assert prioritise(high_complaint(), policy, naive) == prioritise(high_complaint(), policy, NOW + timedelta(minutes=61))


def test_prioritise_is_pure_and_deterministic(policy: PriorityPolicy) -> None:
    tweet = hacked_account(context=turns("customer", "brand", "customer"), author=Author(followers=20_000))
    before = copy.deepcopy(tweet)
    first = prioritise(tweet, policy, NOW + timedelta(minutes=20))
    assert prioritise(tweet, policy, NOW + timedelta(minutes=20)) == first
    assert tweet == before
    first["reasons"].append("mutated")  # results do not share lists with the policy
    assert prioritise(tweet, policy, NOW + timedelta(minutes=20))["reasons"][-1] != "mutated"
