"""Which language a tweet is written in: the input's `lang` when given, else detected.

Every result says which language it scored (DESIGN.md, Languages). A model records the languages
it was trained on (`languages` in its manifest); a tweet in any other language is still scored,
and its result says so (`lang_supported: false`), so that nothing crashes and an agent can see
that the figures were not measured on such tweets.

Detection is offline: py3langid (a maintained fork of langid.py, naive Bayes over byte n-grams,
its model shipped inside the wheel as a NumPy archive, no pickle, no download), restricted to
`DETECTED_LANGUAGES`, the languages a brand's inbox in our markets mostly sees. Restricting the
set is what makes short tweets reliable: with all 97 languages, "Still nada." is Galician.

Speed: langid walks every byte in Python (~100 us a tweet on our 2 cores, half the scoring
budget), so a cheap first pass decides the clear cases from function words that occur in one of
English and Italian and in none of the other detected languages ("the", "my", "your" /
"che", "sono", "della"). Only tweets it cannot settle (mixed, short, other languages) go to langid.
What is left without letters (emoji only, a link, a number) is `und`.

The text given here is the normaliser's output: handles, links, e-mails and emoji names (English
words such as `:thumbs_up:`) are masked first so that they do not vote.
"""

from __future__ import annotations

import re
from functools import lru_cache

UNDETERMINED = "und"
"""ISO 639-2 code for "undetermined": no letters to judge by."""

DETECTED_LANGUAGES: tuple[str, ...] = ("en", "it", "es", "fr", "de", "pt", "nl", "ja", "zh", "ar", "ru", "tr")
"""Languages the detector chooses among (py3langid codes); anything else comes out as the nearest."""

MIN_LETTERS = 3
"""Fewer letters than this (after masking) and the language is `und`."""

# A language from langid other than the model's own is believed only when this confident; a
# less sure guess on a short tweet ("Omg Carl" -> nl 0.40) is more often one of the model's own
# languages written tersely, so the best of those is taken instead.
UNSUPPORTED_MIN_CONFIDENCE = 0.9

_MASKED = re.compile(r"@user\b|\bhttp\b|email@example\.com|:[a-z0-9_&'.\-]+:")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# MIN_LETTERS letters anywhere: found by one search that stops at the third, not a list of all.
_ENOUGH_LETTERS = re.compile(r"[^\W\d_](?:[\W\d_]*[^\W\d_]){%d}" % (MIN_LETTERS - 1))

# Function words that are common in one language and are no word (or a rare one) in the other
# detected languages: "in", "is", "no", "me", "la", "mi", "non", "il", "un" are left out because
# Dutch, Spanish or French share them.
_MARKERS: dict[str, frozenset[str]] = {
    "en": frozenset(
        """the and my you your yours for with this that have has not of are but just been get
        what why how when would could should please thanks thank still there they their we our
        from at it's i'm don't can't didn't doesn't isn't won't i've i'll you're they're any
        again about now out all can help been being here did does which who""".split()
    ),
    "it": frozenset(
        """che è sono ho hai abbiamo della dello degli delle nel nella nei alla allo alle agli
        gli questo questa questi quello quella anche perché ancora grazie sempre già stato stata
        stati hanno dei sul sulla siete vostro vostra vostri vostre ogni molto oggi niente
        nessuno più chi voi ci io di per tutto tutti fatto essere posso può vorrei buongiorno
        salve ciao dopo mio mia miei ordine assistenza servizio pagato arrivato ricevuto
        l'ordine c'è dell'ordine all'assistenza un'altra po' dal dalla""".split()
    ),
}


@lru_cache(maxsize=1)
def _identifier():
    """py3langid's identifier, restricted to `DETECTED_LANGUAGES` (loaded once, ~0.2 s)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(DETECTED_LANGUAGES))
    return identifier


def warm_up() -> None:
    """Load the detector now (~0.2 s), so that the first request that needs it does not wait."""
    _identifier()


def primary_subtag(tag: str) -> str:
    """`it-IT` -> `it`: results name a language, not a region."""
    return tag.split("-", 1)[0].lower()


def _marker_vote(words: list[str], supported: tuple[str, ...]) -> str | None:
    """A supported language when function words settle it, else None (ask langid)."""
    hits = {lang: sum(word in _MARKERS[lang] for word in words) for lang in supported if lang in _MARKERS}
    if not hits:
        return None
    ranked = sorted(hits.items(), key=lambda item: item[1], reverse=True)
    best, best_hits = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    if best_hits >= 2 and runner_up == 0:
        return best
    if best_hits >= 4 and best_hits >= 3 * runner_up:  # a few foreign words in a long tweet
        return best
    return None


def detect_language(normalised_text: str, supported: tuple[str, ...] = ("en", "it")) -> str:
    """The language of one normalised tweet: an ISO 639-1 code, or `und` when it has no letters.

    `supported` are the model's languages: they are preferred when the evidence is thin.
    """
    text = _MASKED.sub(" ", normalised_text)
    if not _ENOUGH_LETTERS.search(text):
        return UNDETERMINED
    lowered = text.lower()
    voted = _marker_vote(_WORD.findall(lowered), supported)
    if voted is not None:
        return voted
    ranking = _identifier().rank(text)
    best, confidence = ranking[0]
    if best in supported or confidence >= UNSUPPORTED_MIN_CONFIDENCE:
        return best
    for lang, _ in ranking:
        if lang in supported:
            return lang
    return best


def choose_languages(
    given: list[str | None], normalised_texts: list[str], supported: tuple[str, ...]
) -> list[str]:
    """Per tweet, the input's language (primary subtag) when given, else the detected one."""
    return [
        primary_subtag(lang) if lang else detect_language(text, supported)
        for lang, text in zip(given, normalised_texts)
    ]
