"""The priority badge: P1-P4, a 0-100 score, a respond-by time and the reasons, from a brand's policy.

The policy is a TOML file (the shipped one is `model/policies/default.toml`) parsed into frozen
dataclasses; a brand tunes priorities by editing it and reloading, never by retraining.

How a tweet is scored
---------------------
Every factor adds points (all weights are >= 0):

    urgency      = weights.urgency_level[level] + weights.urgency_score * urgency_score
    intent       = weights.intent[x], the highest x among the primary label and the tags
    negativity   = weights.negativity * max(0, -sentiment_score)        (sentiment in [-1, 1])
    dm           = weights.dm_suggest (if suggested) + sum(weights.dm_reasons[r] for each reason r)
    repeat       = min(repeat_contact.max_points,
                       repeat_contact.points_per_extra_message * (n - 1))
                   where n = this tweet + the customer turns at the end of `context` since the last
                   brand turn (n = 3: "3rd message without reply")
    long thread  = long_thread.points when len(context) + 1 > long_thread.after_messages
    reach        = reach.large_audience_points when followers >= reach.large_followers
                 + reach.verified_points when the author is verified

    score = round(clamp(sum, 0, 100));  rank = the first of P1..P4 whose ranks.Pn.min_score <= score

Then waiting (`now - created_at`, in whole minutes) is compared with the target of that rank:
past `waiting.escalate_after_fraction * target` the rank goes up one step and the score is lifted
to the new rank's min_score, so that score and rank always agree. Intents listed in
`waiting.never_escalate_intents` never escalate while urgency is at most
`waiting.never_escalate_max_urgency` (praise needs no urgent answer however long it waits).

    respond_by = (created_at, or now when absent) + ranks[final rank].target_minutes

Reasons are the factors worth at least `reasons.min_points` (urgency only from level
`reasons.urgency_from_level`), most points first (ties in a fixed
order: urgency, intent, negativity, DM reasons, DM, repeat contact, long thread, reach), at most
`reasons.max_reasons` of them; a wait that escalated the rank comes first, one that is only past
`waiting.report_from_fraction` of the target comes last. Every reason has a stable code
(`reason_codes`); its wording comes from the policy's `[words.<locale>]` tables.

Because every weight is >= 0, urgency levels never lose points as they rise, and a higher rank's
target is never longer than a lower one's, the score and the rank never go down when urgency,
negativity or waiting go up.

`prioritise` is pure: no clock (`now` is passed in), no I/O, and everything that can be is
precomputed when the policy is loaded.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from model.labels import DM_REASONS, INTENT_OTHER, INTENT_TAGS, URGENCY_LEVELS
from model.records import Author, Turn

__all__ = [
    "DEFAULT_POLICY_PATH",
    "RANKS",
    "REASON_CODES",
    "SUPPORTED_LOCALES",
    "PolicyError",
    "PrioritySignals",
    "PriorityPolicy",
    "load_policy",
    "policy_from_dict",
    "prioritise",
]

DEFAULT_POLICY_PATH: Path = Path(__file__).parent / "policies" / "default.toml"

SUPPORTED_LOCALES: tuple[str, ...] = ("en", "it")
"""Locales a policy must word; any other locale falls back to English."""

RANKS: tuple[str, ...] = ("P1", "P2", "P3", "P4")
"""Ranks, most urgent first; the index is used internally."""

INTENTS: tuple[str, ...] = (*INTENT_TAGS, INTENT_OTHER)

REASON_CODES: tuple[str, ...] = (
    *(f"urgency_{name}" for name in URGENCY_LEVELS),
    *INTENTS,
    "negative",
    *DM_REASONS,
    "dm_suggested",
    "waited",
    "repeat_contact",
    "long_thread",
    "large_audience",
    "verified",
)
"""Stable reason codes; the wording of each is localised by the policy."""

# Keys of `[words.<locale>.reasons]`: one per code, except `waited`, worded in minutes or hours.
_REASON_WORD_KEYS: tuple[str, ...] = tuple(code for code in REASON_CODES if code != "waited") + (
    "waited_minutes",
    "waited_hours",
)
# The placeholders each template may use; texts not listed here may use none.
_TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "badge": frozenset({"rank", "intent"}),
    "ordinal": frozenset({"n", "suffix"}),
    "hours": frozenset({"h"}),
    "hours_minutes": frozenset({"h", "m"}),
    "waited_minutes": frozenset({"waited", "target"}),
    "waited_hours": frozenset({"waited", "target"}),
    "repeat_contact": frozenset({"ordinal", "n"}),
    "long_thread": frozenset({"messages"}),
    "large_audience": frozenset({"followers"}),
}
# Values of the types the code passes, to try each template at load time.
_TEMPLATE_SAMPLES: dict[str, dict[str, Any]] = {
    "badge": {"rank": "P1", "intent": "Complaint"},
    "ordinal": {"n": 3, "suffix": "rd"},
    "hours": {"h": 4},
    "hours_minutes": {"h": 4, "m": 10},
    "waited_minutes": {"waited": 61, "target": 60},
    "waited_hours": {"waited": "4 h 10 min", "target": "4"},
    "repeat_contact": {"ordinal": "3rd", "n": 3},
    "long_thread": {"messages": 7},
    "large_audience": {"followers": "120k"},
}
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")

# Tie-break order of factors with equal points (lower first); DM reasons take 3..6.
_ORDER_URGENCY, _ORDER_INTENT, _ORDER_NEGATIVE, _ORDER_DM_REASON = 0, 1, 2, 3
_ORDER_DM, _ORDER_REPEAT, _ORDER_THREAD, _ORDER_AUDIENCE, _ORDER_VERIFIED = 8, 9, 10, 11, 12


class PolicyError(ValueError):
    """A policy that cannot be used; the message is one line and names the offending key."""


@dataclass(frozen=True)
class PrioritySignals:
    """What the model says about one tweet, plus the record's thread, time and author."""

    intent_label: str  # complaint | question | praise | other
    intent_tags: tuple[str, ...]
    sentiment_label: str  # negative | neutral | positive
    sentiment_score: float  # P(positive) - P(negative), in [-1, 1]
    urgency_level: int  # 0-3
    urgency_score: float  # [0, 1]
    dm_suggest: bool
    dm_reasons: tuple[str, ...]
    created_at: datetime | None = None  # aware UTC
    context: tuple[Turn, ...] = ()
    author: Author | None = None


# --- the policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankPolicy:
    name: str  # P1..P4
    min_score: float
    target_minutes: int
    color: str


@dataclass(frozen=True)
class Weights:
    urgency_level: tuple[float, float, float, float]
    urgency_score: float
    negativity: float
    dm_suggest: float
    dm_reasons: Mapping[str, float]
    intent: Mapping[str, float]


@dataclass(frozen=True)
class RepeatContactPolicy:
    points_per_extra_message: float
    max_points: float


@dataclass(frozen=True)
class LongThreadPolicy:
    after_messages: int
    points: float


@dataclass(frozen=True)
class ReachPolicy:
    large_followers: int
    large_audience_points: float
    verified_points: float


@dataclass(frozen=True)
class WaitingPolicy:
    escalate_after_fraction: float
    report_from_fraction: float
    never_escalate_intents: frozenset[str]
    never_escalate_max_urgency: int
    hours_display_from_minutes: int


@dataclass(frozen=True)
class ReasonsPolicy:
    min_points: float
    max_reasons: int
    urgency_from_level: int


@dataclass(frozen=True)
class Words:
    """The wording of one locale."""

    badge: str
    ordinal: str
    ordinal_suffixes: tuple[str, str, str, str]  # other, ends in 1, in 2, in 3 (11-13 -> other)
    decimal_separator: str
    hours: str
    hours_minutes: str
    intents: Mapping[str, str]
    reasons: Mapping[str, str]


@dataclass(frozen=True)
class PriorityPolicy:
    """A parsed priority policy; build it with `load_policy` or `policy_from_dict`."""

    name: str
    version: str
    description: str
    ranks: tuple[RankPolicy, ...]  # P1..P4
    weights: Weights
    repeat_contact: RepeatContactPolicy
    long_thread: LongThreadPolicy
    reach: ReachPolicy
    waiting: WaitingPolicy
    reasons: ReasonsPolicy
    words: Mapping[str, Words]
    source: str = "<dict>"
    _compiled: _Compiled = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen, so the precomputed tables are attached once here, at load time.
        object.__setattr__(self, "_compiled", _Compiled(self))

    @property
    def label(self) -> str:
        """`name@version`, for display and logs."""
        return f"{self.name}@{self.version}"


class _Compiled:
    """Everything `prioritise` needs, flattened into tuples and dicts for speed."""

    __slots__ = (
        "level_points", "urgency_score", "negativity", "dm_suggest", "dm_items", "intent_points",
        "repeat_step", "repeat_max", "thread_after", "thread_points", "large_followers",
        "large_points", "verified_points", "escalate_fraction", "report_fraction",
        "exempt_intents", "exempt_max_urgency", "hours_from", "min_points", "max_reasons", "urgency_reason_from",
        "min_scores", "targets", "target_minutes", "colors", "urgency_codes", "locales",
    )

    def __init__(self, policy: PriorityPolicy):
        w = policy.weights
        self.level_points = tuple(w.urgency_level)
        self.urgency_score = w.urgency_score
        self.negativity = w.negativity
        self.dm_suggest = w.dm_suggest
        self.dm_items = tuple((r, w.dm_reasons[r], _ORDER_DM_REASON + i) for i, r in enumerate(DM_REASONS))
        self.intent_points = dict(w.intent)
        self.repeat_step = policy.repeat_contact.points_per_extra_message
        self.repeat_max = policy.repeat_contact.max_points
        self.thread_after = policy.long_thread.after_messages
        self.thread_points = policy.long_thread.points
        self.large_followers = policy.reach.large_followers
        self.large_points = policy.reach.large_audience_points
        self.verified_points = policy.reach.verified_points
        self.escalate_fraction = policy.waiting.escalate_after_fraction
        self.report_fraction = policy.waiting.report_from_fraction
        self.exempt_intents = policy.waiting.never_escalate_intents
        self.exempt_max_urgency = policy.waiting.never_escalate_max_urgency
        self.hours_from = policy.waiting.hours_display_from_minutes
        self.min_points = policy.reasons.min_points
        self.max_reasons = policy.reasons.max_reasons
        self.urgency_reason_from = policy.reasons.urgency_from_level
        self.min_scores = tuple(rank.min_score for rank in policy.ranks)
        self.targets = tuple(timedelta(minutes=rank.target_minutes) for rank in policy.ranks)
        self.target_minutes = tuple(rank.target_minutes for rank in policy.ranks)
        self.colors = tuple(rank.color for rank in policy.ranks)
        self.urgency_codes = tuple(f"urgency_{name}" for name in URGENCY_LEVELS)
        self.locales = {locale: _LocaleTexts(words) for locale, words in policy.words.items()}


class _LocaleTexts:
    """One locale's fixed texts, with every badge precomputed."""

    __slots__ = ("words", "fixed", "badges")

    def __init__(self, words: Words):
        self.words = words
        self.fixed = dict(words.reasons)  # the templated ones are formatted per tweet
        # badges[rank index][intent] -> "P2 · Complaint"
        self.badges = tuple(
            {intent: words.badge.format(rank=rank, intent=words.intents[intent]) for intent in INTENTS}
            for rank in RANKS
        )


# --- loading ---------------------------------------------------------------------------------


def load_policy(path: str | Path | Mapping[str, Any] | None = None) -> PriorityPolicy:
    """Load a policy from a TOML file (the shipped default when `path` is None) or from a dict."""
    if isinstance(path, Mapping):
        return policy_from_dict(path)
    source = Path(DEFAULT_POLICY_PATH if path is None else path)
    try:
        with source.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise PolicyError(f"cannot read policy {source}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"policy {source} is not valid TOML: {error}") from None
    return policy_from_dict(data, source=str(source))


def policy_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> PriorityPolicy:
    """Build a policy from parsed TOML (a dict); every key is required and unknown keys are refused."""
    try:
        return _parse_policy(data, source)
    except PolicyError as error:
        raise PolicyError(f"policy {source}: {error}") from None


def _table(value: Any, path: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    """Check that `value` is a table with exactly `keys`."""
    if not isinstance(value, Mapping):
        raise PolicyError(f"`{path}` must be a table" if path else "the policy must be a table")
    prefix = f"{path}." if path else ""
    for key in value:
        if key not in keys:
            raise PolicyError(f"unknown key `{prefix}{key}`")
    for key in keys:
        if key not in value:
            raise PolicyError(f"missing key `{prefix}{key}`")
    return value


def _number(table: Mapping[str, Any], path: str, key: str, low: float | None = 0.0,
            high: float | None = None, *, low_open: bool = False) -> float:
    value = table[key]
    name = f"{path}.{key}"
    # bool is an int in Python but `true` is never a number in a policy.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PolicyError(f"`{name}` must be a number, not {_type_name(value)}")
    if low is not None and (value <= low if low_open else value < low):
        raise PolicyError(f"`{name}` must be {'>' if low_open else '>='} {low:g}")
    if high is not None and value > high:
        raise PolicyError(f"`{name}` must be <= {high:g}")
    return float(value)


def _integer(table: Mapping[str, Any], path: str, key: str, low: int = 0) -> int:
    value = table[key]
    name = f"{path}.{key}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"`{name}` must be an integer, not {_type_name(value)}")
    if value < low:
        raise PolicyError(f"`{name}` must be >= {low}")
    return value


def _string(table: Mapping[str, Any], path: str, key: str, fields: frozenset[str] = frozenset()) -> str:
    value = table[key]
    name = f"{path}.{key}"
    if not isinstance(value, str):
        raise PolicyError(f"`{name}` must be a string, not {_type_name(value)}")
    try:
        used = {part[1] for part in string.Formatter().parse(value) if part[1] is not None}
    except ValueError:
        raise PolicyError(f"`{name}` has unbalanced braces (write {{{{ and }}}} for literal ones)") from None
    unknown = sorted(used - fields)
    if unknown:
        allowed = ", ".join(f"{{{f}}}" for f in sorted(fields)) or "none"
        raise PolicyError(f"`{name}` uses unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")
    return value


def _string_list(table: Mapping[str, Any], path: str, key: str) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PolicyError(f"`{path}.{key}` must be a list of strings")
    return tuple(value)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def _parse_policy(data: Mapping[str, Any], source: str) -> PriorityPolicy:
    top = _table(data, "", ("policy", "ranks", "weights", "repeat_contact", "long_thread", "reach",
                            "waiting", "reasons", "words"))

    meta = _table(top["policy"], "policy", ("name", "version", "description"))
    name = _string(meta, "policy", "name")
    version = _string(meta, "policy", "version")
    description = _string(meta, "policy", "description")

    ranks_table = _table(top["ranks"], "ranks", RANKS)
    ranks: list[RankPolicy] = []
    for rank in RANKS:
        path = f"ranks.{rank}"
        entry = _table(ranks_table[rank], path, ("min_score", "target_minutes", "color"))
        color = _string(entry, path, "color")
        if not _COLOR.fullmatch(color):
            raise PolicyError(f"`{path}.color` must be a colour like #d93025")
        ranks.append(RankPolicy(rank, _number(entry, path, "min_score", 0.0, 100.0),
                                _integer(entry, path, "target_minutes", 1), color))
    for higher, lower in zip(ranks, ranks[1:]):
        if not higher.min_score > lower.min_score:
            raise PolicyError(f"`ranks.{higher.name}.min_score` must be above `ranks.{lower.name}.min_score`")
        # A longer target for a higher rank would make escalation lower priorities (not monotone).
        if higher.target_minutes > lower.target_minutes:
            raise PolicyError(
                f"`ranks.{higher.name}.target_minutes` must not exceed `ranks.{lower.name}.target_minutes`"
            )
    if ranks[-1].min_score != 0:
        raise PolicyError(f"`ranks.{RANKS[-1]}.min_score` must be 0 so that every tweet gets a rank")

    w = _table(top["weights"], "weights", ("urgency_level", "urgency_score", "negativity", "dm_suggest",
                                           "dm_reasons", "intent"))
    levels = w["urgency_level"]
    if not isinstance(levels, list) or len(levels) != len(URGENCY_LEVELS):
        raise PolicyError(f"`weights.urgency_level` must be a list of {len(URGENCY_LEVELS)} numbers")
    level_points = tuple(
        _number({str(i): v for i, v in enumerate(levels)}, "weights.urgency_level", str(i))
        for i in range(len(levels))
    )
    if any(b < a for a, b in zip(level_points, level_points[1:])):
        raise PolicyError("`weights.urgency_level` must not decrease from low to critical")
    dm_table = _table(w["dm_reasons"], "weights.dm_reasons", DM_REASONS)
    intent_table = _table(w["intent"], "weights.intent", INTENTS)
    weights = Weights(
        urgency_level=level_points,  # type: ignore[arg-type]  # length checked above
        urgency_score=_number(w, "weights", "urgency_score"),
        negativity=_number(w, "weights", "negativity"),
        dm_suggest=_number(w, "weights", "dm_suggest"),
        dm_reasons=MappingProxyType({r: _number(dm_table, "weights.dm_reasons", r) for r in DM_REASONS}),
        intent=MappingProxyType({i: _number(intent_table, "weights.intent", i) for i in INTENTS}),
    )

    rc = _table(top["repeat_contact"], "repeat_contact", ("points_per_extra_message", "max_points"))
    repeat_contact = RepeatContactPolicy(_number(rc, "repeat_contact", "points_per_extra_message"),
                                         _number(rc, "repeat_contact", "max_points"))
    lt = _table(top["long_thread"], "long_thread", ("after_messages", "points"))
    long_thread = LongThreadPolicy(_integer(lt, "long_thread", "after_messages", 1),
                                   _number(lt, "long_thread", "points"))
    re_ = _table(top["reach"], "reach", ("large_followers", "large_audience_points", "verified_points"))
    reach = ReachPolicy(_integer(re_, "reach", "large_followers", 1),
                        _number(re_, "reach", "large_audience_points"),
                        _number(re_, "reach", "verified_points"))

    wt = _table(top["waiting"], "waiting", ("escalate_after_fraction", "report_from_fraction",
                                            "never_escalate_intents", "never_escalate_max_urgency",
                                            "hours_display_from_minutes"))
    exempt = _string_list(wt, "waiting", "never_escalate_intents")
    for intent in exempt:
        if intent not in INTENTS:
            raise PolicyError(f"`waiting.never_escalate_intents` has unknown intent {intent!r}")
    max_urgency = _integer(wt, "waiting", "never_escalate_max_urgency")
    if max_urgency >= len(URGENCY_LEVELS):
        raise PolicyError(f"`waiting.never_escalate_max_urgency` must be <= {len(URGENCY_LEVELS) - 1}")
    waiting = WaitingPolicy(
        # "certainly past the target itself": escalation can come earlier, never later.
        escalate_after_fraction=_number(wt, "waiting", "escalate_after_fraction", 0.0, 1.0, low_open=True),
        report_from_fraction=_number(wt, "waiting", "report_from_fraction", 0.0, low_open=True),
        never_escalate_intents=frozenset(exempt),
        never_escalate_max_urgency=max_urgency,
        hours_display_from_minutes=_integer(wt, "waiting", "hours_display_from_minutes", 1),
    )

    rs = _table(top["reasons"], "reasons", ("min_points", "max_reasons", "urgency_from_level"))
    reasons = ReasonsPolicy(_number(rs, "reasons", "min_points"), _integer(rs, "reasons", "max_reasons", 1),
                            _integer(rs, "reasons", "urgency_from_level"))

    words_table = _table(top["words"], "words", SUPPORTED_LOCALES)
    words = MappingProxyType({locale: _parse_words(words_table[locale], f"words.{locale}")
                              for locale in SUPPORTED_LOCALES})

    return PriorityPolicy(name=name, version=version, description=description, ranks=tuple(ranks),
                          weights=weights, repeat_contact=repeat_contact, long_thread=long_thread,
                          reach=reach, waiting=waiting, reasons=reasons, words=words, source=source)


def _parse_words(value: Any, path: str) -> Words:
    table = _table(value, path, ("badge", "ordinal", "ordinal_suffixes", "decimal_separator", "hours",
                                 "hours_minutes", "intents", "reasons"))
    suffixes = _string_list(table, path, "ordinal_suffixes")
    if len(suffixes) != 4:
        raise PolicyError(f"`{path}.ordinal_suffixes` must list 4 suffixes: other, 1, 2, 3")
    intents = _table(table["intents"], f"{path}.intents", INTENTS)
    reasons = _table(table["reasons"], f"{path}.reasons", _REASON_WORD_KEYS)
    words = Words(
        badge=_string(table, path, "badge", _TEMPLATE_FIELDS["badge"]),
        ordinal=_string(table, path, "ordinal", _TEMPLATE_FIELDS["ordinal"]),
        ordinal_suffixes=suffixes,  # type: ignore[arg-type]  # length checked above
        decimal_separator=_string(table, path, "decimal_separator"),
        hours=_string(table, path, "hours", _TEMPLATE_FIELDS["hours"]),
        hours_minutes=_string(table, path, "hours_minutes", _TEMPLATE_FIELDS["hours_minutes"]),
        intents=MappingProxyType({i: _string(intents, f"{path}.intents", i) for i in INTENTS}),
        reasons=MappingProxyType({
            key: _string(reasons, f"{path}.reasons", key, _TEMPLATE_FIELDS.get(key, frozenset()))
            for key in _REASON_WORD_KEYS
        }),
    )
    # Fill every template once now, so that a bad format spec ("{n:d}" on a text) fails at load
    # time with the key's name, not while scoring a tweet.
    templates = {"badge": words.badge, "ordinal": words.ordinal, "hours": words.hours,
                 "hours_minutes": words.hours_minutes}
    templates.update((f"reasons.{key}", words.reasons[key]) for key in _TEMPLATE_FIELDS if key in words.reasons)
    for key, template in templates.items():
        try:
            template.format(**_TEMPLATE_SAMPLES[key.removeprefix("reasons.")])
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            raise PolicyError(f"`{path}.{key}` cannot be filled in: {error}") from None
    return words


# --- scoring ---------------------------------------------------------------------------------

_UTC = timezone.utc


def prioritise(signals: PrioritySignals, policy: PriorityPolicy, now: datetime, locale: str = "en") -> dict:
    """Rank one tweet under `policy` at time `now` (aware UTC); pure and deterministic.

    Returns {"rank", "score", "respond_by", "reasons", "reason_codes", "badge": {"text", "color"}}.
    """
    c = policy._compiled
    texts = c.locales.get(locale) or c.locales["en"]
    min_points = c.min_points
    # Each factor worth a reason: (-points, tie-break order, code, template argument); the
    # negated points let a plain tuple sort put the most important first.
    factors: list[tuple[float, int, str, Any]] = []

    level = signals.urgency_level
    level = 0 if level < 0 else 3 if level > 3 else level
    urgency_score = signals.urgency_score
    # `not x > 0` also catches NaN, which would otherwise poison the whole sum.
    urgency_score = 0.0 if not urgency_score > 0.0 else 1.0 if urgency_score > 1.0 else urgency_score
    points = c.level_points[level] + c.urgency_score * urgency_score
    total = points
    if points >= min_points and level >= c.urgency_reason_from:
        factors.append((-points, _ORDER_URGENCY, c.urgency_codes[level], None))

    # Unknown intent labels (a model with another vocabulary) count as `other`.
    intent = signals.intent_label if signals.intent_label in c.intent_points else INTENT_OTHER
    intent_points = c.intent_points
    points = intent_points[intent]
    intent_code = intent
    for tag in signals.intent_tags:
        tag_points = intent_points.get(tag, 0.0)
        if tag_points > points:
            points, intent_code = tag_points, tag
    total += points
    if points >= min_points:
        factors.append((-points, _ORDER_INTENT, intent_code, None))

    if signals.sentiment_score < 0.0:
        points = c.negativity * min(1.0, -signals.sentiment_score)
        total += points
        if points >= min_points:
            factors.append((-points, _ORDER_NEGATIVE, "negative", None))

    if signals.dm_suggest:
        points = c.dm_suggest
        total += points
        if points >= min_points:
            factors.append((-points, _ORDER_DM, "dm_suggested", None))
    dm_reasons = signals.dm_reasons
    if dm_reasons:
        # In the fixed vocabulary's order (a set's order would vary between processes), each
        # reason once however often it is given; unknown reasons add nothing.
        for reason, points, order in c.dm_items:
            if reason in dm_reasons:
                total += points
                if points >= min_points and points > 0.0:
                    factors.append((-points, order, reason, None))

    context = signals.context
    if context:
        unanswered = 1  # this tweet
        for turn in reversed(context):
            if turn.author != "customer":
                break
            unanswered += 1
        if unanswered > 1:
            points = min(c.repeat_max, c.repeat_step * (unanswered - 1))
            total += points
            if points >= min_points:
                factors.append((-points, _ORDER_REPEAT, "repeat_contact", unanswered))
        messages = len(context) + 1
        if messages > c.thread_after:
            points = c.thread_points
            total += points
            if points >= min_points:
                factors.append((-points, _ORDER_THREAD, "long_thread", messages))

    author = signals.author
    if author is not None:
        followers = author.followers
        if followers is not None and followers >= c.large_followers:
            points = c.large_points
            total += points
            if points >= min_points:
                factors.append((-points, _ORDER_AUDIENCE, "large_audience", followers))
        if author.verified:
            points = c.verified_points
            total += points
            if points >= min_points:
                factors.append((-points, _ORDER_VERIFIED, "verified", None))

    score = int(total + 0.5) if total > 0.0 else 0  # round half up; total is never negative
    if score > 100:
        score = 100
    min_scores = c.min_scores
    rank = 0
    while score < min_scores[rank]:
        rank += 1

    # Waiting, in whole minutes so that the decision matches the words shown.
    if now.tzinfo is None:
        now = now.replace(tzinfo=_UTC)
    created = signals.created_at
    if created is None:
        created = now
    elif created.tzinfo is None:
        created = created.replace(tzinfo=_UTC)
    waited = int((now - created).total_seconds() // 60)
    wait_reason = 0  # 0 none, 1 reported, 2 escalated
    wait_target = c.target_minutes[rank]
    if waited > 0 and not (intent in c.exempt_intents and level <= c.exempt_max_urgency):
        if waited > c.escalate_fraction * wait_target and rank > 0:
            rank -= 1
            if score < min_scores[rank]:
                score = int(math.ceil(min_scores[rank]))
            wait_reason = 2
        elif waited >= c.report_fraction * wait_target:
            wait_reason = 1

    respond_by = created + c.targets[rank]
    if respond_by.utcoffset():
        respond_by = respond_by.astimezone(_UTC)

    # Reasons: most points first; an escalating wait first of all, a reported one last.
    if len(factors) > 1:
        factors.sort()
    limit = c.max_reasons
    codes: list[str] = []
    reasons: list[str] = []
    if wait_reason == 2:
        codes.append("waited")
        reasons.append(_waited_text(texts, waited, wait_target, c.hours_from))
    elif wait_reason == 1:
        limit -= 1  # keep a slot for it at the end
    fixed = texts.fixed
    for _points, _order, code, argument in factors:
        if len(codes) >= limit:
            break
        codes.append(code)
        reasons.append(fixed[code] if argument is None else _template_text(texts, code, argument))
    if wait_reason == 1:
        codes.append("waited")
        reasons.append(_waited_text(texts, waited, wait_target, c.hours_from))

    return {
        "rank": RANKS[rank],
        "score": score,
        # %-formatting is about twice as fast as strftime here, and this runs per tweet.
        "respond_by": "%04d-%02d-%02dT%02d:%02d:%02dZ" % (
            respond_by.year, respond_by.month, respond_by.day,
            respond_by.hour, respond_by.minute, respond_by.second,
        ),
        "reasons": reasons,
        "reason_codes": codes,
        "badge": {"text": texts.badges[rank][intent], "color": c.colors[rank]},
    }


def _template_text(texts: _LocaleTexts, code: str, argument: int) -> str:
    template = texts.fixed[code]
    if code == "repeat_contact":
        return template.format(ordinal=_ordinal(texts.words, argument), n=argument)
    if code == "long_thread":
        return template.format(messages=argument)
    return template.format(followers=_compact_count(argument, texts.words.decimal_separator))


def _waited_text(texts: _LocaleTexts, waited: int, target: int, hours_from: int) -> str:
    words = texts.words
    if target < hours_from:
        return texts.fixed["waited_minutes"].format(waited=waited, target=target)
    hours, minutes = divmod(waited, 60)
    shown = words.hours.format(h=hours) if minutes == 0 else words.hours_minutes.format(h=hours, m=minutes)
    target_hours = _compact_number(target / 60, words.decimal_separator)
    return texts.fixed["waited_hours"].format(waited=shown, target=target_hours)


def _ordinal(words: Words, n: int) -> str:
    # English rule, data-driven suffixes: 11th-13th, else by the last digit (1st, 2nd, 3rd).
    last = n % 10
    index = 0 if 10 <= n % 100 <= 13 or last > 3 else last
    return words.ordinal.format(n=n, suffix=words.ordinal_suffixes[index])


def _compact_number(value: float, decimal_separator: str) -> str:
    """1 decimal below 10, none above; never rounds up past the value (9.99 -> 9.9)."""
    if value < 10:
        text = f"{math.floor(value * 10) / 10:.1f}"
        if text.endswith(".0"):
            text = text[:-2]
        return text.replace(".", decimal_separator)
    return str(math.floor(value))


def _compact_count(count: int, decimal_separator: str) -> str:
    """120000 -> 120k, 1500000 -> 1.5M (floored, so 999999 -> 999k)."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return _compact_number(count / 1000, decimal_separator) + "k"
    return _compact_number(count / 1_000_000, decimal_separator) + "M"
