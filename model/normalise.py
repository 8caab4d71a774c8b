"""The one tweet normaliser (DESIGN.md rule 1).

Every backend sees `normalise_tweet(text)`, in training and in serving alike; it is applied inside
the model, so no caller cleans text on its own. Any change to what it returns must bump
`NORMALISER_VERSION`: artifacts record the version they were trained with, and loading one built
with another version is refused.

What it does, in order:
1. NFKC and HTML entities, repeated until stable (fullwidth and math-bold letters become ASCII,
   `&amp;amp;` becomes `&`), so the result is idempotent.
2. Emoji become word tokens (` :thumbs_up: `), ZWJ sequences included, so they survive tokenisers.
3. Invisible format characters (zero-width, BOM, soft hyphen, bidi embeddings / overrides /
   isolates: Unicode category Cf), variation selectors and control characters are removed.
4. URLs become `http`, user handles of any case (`@Delta`, `@brand_support`, `@115712`) become
   `@user`, e-mail addresses become `email@example.com`: the label of a tweet never depends on them.
5. Letters and `!?.` repeated four or more times are cut to three (`soooooo` -> `sooo`); digits
   are left alone (they are order numbers and prices). Whitespace collapses.
6. Typographic apostrophes (`’`, `‘`, `ʼ`) become `'`, so `don’t` and Italian elisions such as
   `l’ordine` read the same as with a typed apostrophe.
7. Italian texting forms that are no English word (`xké`, `nn`, `cmq`, `qlcs`, ...) are written
   out (`perché`, `non`, `comunque`, `qualcosa`); whole tokens only, from a fixed table, so English
   text never changes. Accents are kept (`perché` and `perchè` stay distinct words, character
   n-grams relate them).

Case is kept: capitals carry anger, and vectorisers lowercase on their own.
"""

from __future__ import annotations

import html
import re
import unicodedata

import emoji
import regex

NORMALISER_VERSION = 2

URL_TOKEN = "http"
USER_TOKEN = "@user"
EMAIL_TOKEN = "email@example.com"

_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# A handle: `@` not glued to a preceding word character (that would be an e-mail), then word chars.
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_ELONGATED = re.compile(r"([^\W\d_]|[!?.])\1{3,}")  # letters and !?. only: digits are data
_FOUR_ALIKE = re.compile(r"(.)\1\1\1", re.DOTALL)  # any elongation has these: a 4x cheaper scan first
_MAX_UNESCAPE_ROUNDS = 5
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})

# Italian texting forms (SMS / chat spelling) and what they stand for. Only forms that are not
# English words, matched as whole tokens case-insensitively.
ITALIAN_TEXTING_FORMS: dict[str, str] = {
    "xké": "perché", "xkè": "perché", "xke": "perché", "xk": "perché", "xché": "perché",
    "xchè": "perché", "xche": "perché", "perke": "perché", "perkè": "perché", "perké": "perché",
    "nn": "non", "cmq": "comunque", "qlc": "qualche", "qlcs": "qualcosa", "qlcn": "qualcuno",
    "qnd": "quando", "grz": "grazie", "nnt": "niente", "anke": "anche", "kosa": "cosa",
    "kome": "come", "nessun1": "nessuno",
}
_TEXTING = regex.compile(
    r"(?<![\w'])(" + "|".join(sorted(map(regex.escape, ITALIAN_TEXTING_FORMS), key=len, reverse=True)) + r")(?![\w'])",
    regex.IGNORECASE,
)


# Format characters (zero-width, BOM, soft hyphen, bidi controls), control characters other than
# whitespace, and variation selectors: nothing a reader sees.
_INVISIBLE = regex.compile(
    r"[\p{Cf}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\uFE00-\uFE0F\U000E0100-\U000E01EF]"
)


def _emoji_index() -> dict[str, tuple[str, ...]]:
    """Emoji sequences from the `emoji` package grouped by first code point, longest first."""
    index: dict[str, list[str]] = {}
    for sequence in emoji.EMOJI_DATA:
        index.setdefault(sequence[0], []).append(sequence)
    return {first: tuple(sorted(group, key=len, reverse=True)) for first, group in index.items()}


_EMOJI_BY_FIRST = _emoji_index()


def _demojize(text: str) -> str:
    """Replace each emoji sequence (longest match) by ` :name: `.

    Same names as `emoji.demojize`, which is too slow for the scoring hot path (~40 us a tweet).
    """
    pieces: list[str] = []
    position = 0
    for start, char in enumerate(text):
        if start < position or char not in _EMOJI_BY_FIRST:
            continue  # not an emoji, or inside a sequence already replaced
        for sequence in _EMOJI_BY_FIRST[char]:
            if text.startswith(sequence, start):
                pieces.append(text[position:start])
                pieces.append(f" {emoji.EMOJI_DATA[sequence]['en']} ")
                position = start + len(sequence)
                break
    pieces.append(text[position:])
    return "".join(pieces)


def _canonical_characters(text: str) -> str:
    """NFKC + HTML unescaping until neither changes the text any more."""
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        unescaped = unicodedata.normalize("NFKC", html.unescape(text))
        if unescaped == text:
            break
        text = unescaped
    return text


def _expand_texting(match: regex.Match) -> str:
    return ITALIAN_TEXTING_FORMS[match.group(1).lower()]


def normalise_tweet(text: str) -> str:
    """Return the canonical form of a tweet that every backend sees (see the module docstring)."""
    if not text.isascii() or "&" in text:
        text = _canonical_characters(text)
    if not text.isascii():
        text = _demojize(text)
    # Each substitution runs only where it could match (a plain `in` is ~20x cheaper than a regex
    # scan that finds nothing); the result is the same either way (tests/test_normalise.py).
    if not (text.isascii() and text.isprintable()):
        text = _INVISIBLE.sub("", text)
    if "://" in text or "www." in text.lower():
        text = _URL.sub(f" {URL_TOKEN} ", text)
    if "@" in text:
        text = _EMAIL.sub(f" {EMAIL_TOKEN} ", text)
        text = _HANDLE.sub(USER_TOKEN, text)
    if _FOUR_ALIKE.search(text):
        text = _ELONGATED.sub(r"\1\1\1", text)
    if not text.isascii():
        text = text.translate(_APOSTROPHES)
    text = _TEXTING.sub(_expand_texting, text)
    return " ".join(text.split())  # whitespace runs -> one space, none at the ends: `\s+` and split agree
