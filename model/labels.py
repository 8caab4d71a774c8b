"""The label sets of every head, as LABELLING.md defines them.

These are the *training* vocabulary. A loaded model takes its labels from its manifest, never from
here, so that an artifact trained with another vocabulary still answers with its own labels.
"""

from __future__ import annotations

INTENT_TAGS: tuple[str, ...] = ("complaint", "question", "praise")
"""Multi-label intent tags, in the order that decides the primary `intent.label`."""

INTENT_OTHER = "other"
"""Primary intent when no tag is on."""

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")

URGENCY_LEVELS: tuple[str, ...] = ("low", "normal", "high", "critical")
"""Urgency level names; the index is the level (0-3)."""

DM_REASONS: tuple[str, ...] = (
    "personal_data_exposed",  # the tweet shows an e-mail, phone, card, IBAN, address... in public
    "account_data_needed",  # solving it needs an order / booking / account number, a bill, identity checks
    "security_concern",  # hacked account, fraud, unknown charges, scams: never handled in public
    "heated_exchange",  # anger or repeated contact: a public thread risks escalating
)
"""The fixed vocabulary of reasons for suggesting a move to private messages."""


def primary_intent(tags: list[str] | tuple[str, ...], order: tuple[str, ...] = INTENT_TAGS) -> str:
    """Return the first of `order` present in `tags`, else `other` (LABELLING.md: derived, never chosen)."""
    for tag in order:
        if tag in tags:
            return tag
    return INTENT_OTHER
