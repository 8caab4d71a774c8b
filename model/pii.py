"""Personal data and reference numbers exposed in a tweet, as character spans.

`find_pii(text)` returns what a tweet shows in public, as `PiiSpan`s in the output contract
(`"pii": [{"type": "email", "start": 41, "end": 60}]`), and `redact(text)` masks them
(`[EMAIL]`, `[PHONE]`...). The findings feed the DM suggestion: a type in `PERSONAL_DATA_TYPES`
means personal data is exposed in public (reason `personal_data_exposed`); a type in
`REFERENCE_TYPES` means solving the case needs account-specific data (`account_data_needed`).

Types (`PII_TYPES`, in this order):

- `email`: an e-mail address: RFC 5322 dot-atom local part (Unicode letters allowed), a dotted
  host name with a 2-63 letter TLD, RFC 5321 length limits.
- `phone`: a phone number found by libphonenumber's `PhoneNumberMatcher` at leniency VALID, the
  international form (+39..., 0039...) first, then national forms of `PHONE_REGIONS`; 7+ digits.
- `payment_card`: 13-19 digits, compact or in groups separated by spaces or dashes, with a card
  scheme's prefix and length (Visa, Mastercard, Amex, Diners, JCB, Discover, UnionPay, Maestro)
  and a valid Luhn check digit.
- `iban`: an IBAN of any country, compact or grouped by four, with the country's length and
  format and a valid ISO 7064 mod 97-10 check (python-stdnum).
- `codice_fiscale`: an Italian tax code (16 characters, omocodia included) with a valid date and
  check character; also an 11-digit company code after a "C.F."/"codice fiscale" cue.
- `partita_iva`: an Italian VAT number, 11 digits with a valid check digit, after a cue (P.IVA,
  partita IVA, VAT) or glued to the `IT` prefix (the span then includes `IT`).
- `address`: a street address. English: house number, one to three name words, a street suffix
  (St, Street, Ave, Road, Rd, Blvd, Lane, Drive...), then optionally apartment, city, state and
  ZIP or a UK postcode. Italian: via/viale/piazza/corso/largo/vicolo/strada..., the name, the
  civic number, then optionally CAP, city and province.
- `order_number`: the code after an order cue: order (number, #, id), tracking, invoice,
  receipt; numero d'ordine, ordine n., spedizione, fattura, ricevuta, scontrino.
- `booking_reference`: the code after a booking cue: booking (ref, no.), reservation,
  confirmation code, PNR, record locator, ref/reference; codice prenotazione, conferma.
- `account_number`: the code after an account cue: account no., acct, a/c, customer, member,
  loyalty, policy, contract; codice cliente, utente, contratto, conto, tessera, polizza.
- `ticket_number`: the code after a support-case cue: ticket #, case number, complaint,
  incident, claim, request; numero pratica, segnalazione, reclamo, richiesta, protocollo.

Reference spans cover the code only, never the cue word. Offsets are Python `str` indices
(code points) into the text given to `find_pii`, end exclusive; spans are sorted and never overlap
(the longest wins, then the most specific type).

Speed: the scoring pipeline must stay above 5,000 tweets/s, so every detector sits behind a cheap
prefilter (an `@` glued to a word for e-mails; one digit-first pass for seven digits close
together, four digits in a row or a codice fiscale tail; cue words for references and Italian
streets) and the costly validators (libphonenumber, python-stdnum) only see the few candidates
that survive. URLs and @handles are blanked before the digit detectors run, so tweet ids in
links and numeric handles are never taken for data. A care tweet without personal data costs
a few microseconds; one with a long digit run costs ~0.1-1 ms in libphonenumber.

This module never logs or prints text: tweets are personal data (docs/RELIABILITY.md section 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import phonenumbers
from stdnum import iban as _stdnum_iban
from stdnum import luhn as _stdnum_luhn
from stdnum.it import codicefiscale as _stdnum_codicefiscale
from stdnum.it import iva as _stdnum_iva

__all__ = [
    "PERSONAL_DATA_TYPES",
    "PHONE_REGIONS",
    "PII_TYPES",
    "PiiSpan",
    "REFERENCE_TYPES",
    "find_pii",
    "redact",
]

PII_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "payment_card",
    "iban",
    "codice_fiscale",
    "partita_iva",
    "address",
    "order_number",
    "booking_reference",
    "account_number",
    "ticket_number",
)
"""Every type `find_pii` can return, in a stable order (see the module docstring)."""

PERSONAL_DATA_TYPES: frozenset[str] = frozenset(
    {"email", "phone", "payment_card", "iban", "codice_fiscale", "partita_iva", "address"}
)
"""Types that expose a person in public: DM reason `personal_data_exposed`."""

REFERENCE_TYPES: frozenset[str] = frozenset(
    {"order_number", "booking_reference", "account_number", "ticket_number"}
)
"""Types that mean account-specific data is involved: DM reason `account_data_needed`."""

PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "IT", "IN")
"""Regions tried, in order, for numbers written without an international prefix.

US, GB and IT are the product's markets; IN catches the many Indian mobiles written without +91
in care tweets. Every region costs a libphonenumber pass over each digit run that is not a phone,
so the list is short: French and Irish national numbers (0 + 9 digits) already pass Italy's plan,
and permissive plans (DE's variable lengths, ES's bare 9-digit numbers) only turned product codes
and confirmation numbers of care tweets into phones.
"""


@dataclass(frozen=True)
class PiiSpan:
    """One finding: `text[start:end]` is data of kind `type` (code-point offsets, end exclusive)."""

    type: str
    start: int
    end: int

    def to_dict(self) -> dict:
        """The output-contract form: `{"type", "start", "end"}`."""
        return {"type": self.type, "start": self.start, "end": self.end}


# When two candidates cover the same characters, the first type here wins. Checksum-validated
# personal data beats a cue-anchored reference (an IBAN given as "account number" is still an
# IBAN), and a reference beats the looser card and phone checks (a Luhn-valid "order number" is an
# order number: one random number in ten passes Luhn).
_PRIORITY = {
    kind: rank
    for rank, kind in enumerate(
        (
            "iban",
            "codice_fiscale",
            "email",
            "partita_iva",
            "order_number",
            "booking_reference",
            "account_number",
            "ticket_number",
            "payment_card",
            "phone",
            "address",
        )
    )
}
assert set(_PRIORITY) == set(PII_TYPES)

_MASKS = {kind: f"[{kind.upper()}]" for kind in PII_TYPES}

# --------------------------------------------------------------------------------------------
# Shared helpers: prefilters, masking, cue tries
# --------------------------------------------------------------------------------------------
# CPython's `re` has no literal-set search: a pattern only scans fast when it starts with a literal
# or a character class. So the prefilters below start with a digit or an `@`, and lookbehinds are
# written after the first character (`\d(?<![\w]\d)`) rather than before it.

_DIGIT = re.compile(r"\d")
# Seven digits with at most two separators between neighbours: every phone, card, IBAN and VAT
# number has such a run; prices, dates, times and versions mostly do not.
_SEVEN_DIGITS_TAIL = r"(?:[\s()./\-]{0,2}\d){6}"
_SEVEN_DIGITS = re.compile(rf"\d{_SEVEN_DIGITS_TAIL}")
# An `@` glued to a character that can end an e-mail's local part (a handle has a space before).
_EMAIL_AT = re.compile(r"@(?<=[\w.+\-]@)")
# Links (tweet ids live in them) and @handles (TWCS anonymises them as numbers) are blanked before
# the digit detectors run. A handle's `@` is not glued to a word: that would be an e-mail.
_URL = re.compile(r"(?:[Hh][Tt][Tt][Pp][Ss]?://|[Ww][Ww][Ww]\.|pic\.twitter\.com/|t\.co/)\S+")
_HANDLE = re.compile(r"@\w+")


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def _blank_handle(match: re.Match[str]) -> str:
    start = match.start()
    before = match.string[start - 1] if start else " "
    if before.isalnum() or before in "_@.+-":
        return match.group()  # the `@` of an e-mail
    return " " * (match.end() - start)


def _masked(text: str, found: Sequence[tuple[int, int, str]]) -> str:
    """`text` with links, handles and already found e-mails replaced by spaces (same length)."""
    scan = _URL.sub(_blank, text) if "/" in text or "www" in text.lower() else text
    if "@" in scan:
        scan = _HANDLE.sub(_blank_handle, scan)
    for start, end, _ in found:
        scan = scan[:start] + " " * (end - start) + scan[end:]
    return scan


def _lowered(text: str) -> str:
    """`text.lower()` with the same offsets (a few letters, like Turkish İ, lower to two)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low) == 1 else char for char, low in ((c, c.lower()) for c in text))


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of `words`, factored by common prefixes.

    A flat alternation of 60 cue words costs `re` 60 attempts at every position of the tweet; the
    factored form costs one character test at most positions (7x faster on care tweets).
    """
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


def _starts_word(lowered: str, start: int) -> bool:
    """True when the cue at `start` is not the tail of a longer word, path, handle or hashtag."""
    if start == 0:
        return True
    before = lowered[start - 1]
    return not (before.isalnum() or before in "_/@#.")


# --------------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------------

# Dot-atom local part (RFC 5322, Unicode letters allowed as in RFC 6531, minus the quote and
# slash that tweets use as punctuation), then a host name of letter-digit-hyphen labels.
_EMAIL = re.compile(
    r"(?<![\w.+\-!#$%&*=?^`{|}~])"
    r"(?P<local>[\w+\-!#$%&*=?^`{|}~]+(?:\.[\w+\-!#$%&*=?^`{|}~]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
    r"(?![\w-]|\.[A-Za-z0-9])"
)


def _find_emails(text: str) -> Iterator[tuple[int, int, str]]:
    for match in _EMAIL.finditer(text):
        # RFC 5321 limits: 64 for the local part, 254 for the whole address.
        if len(match.group("local")) <= 64 and match.end() - match.start() <= 254:
            yield match.start(), match.end(), "email"


# --------------------------------------------------------------------------------------------
# Payment cards
# --------------------------------------------------------------------------------------------

# A run of digit groups separated by single spaces or dashes, not glued to words, decimals or
# signs. Atomic, so a run is never shortened to dodge the lookahead: "1234 5678.90" is a price.
_DIGIT_GROUPS = re.compile(r"(?<![\w.,/+\-])(?>\d+(?:[ \-]\d+)*)(?![\w/]|[.,]\d)")
_GROUP_SEPARATOR = re.compile(r"[ \-]")


def _card_issuer_accepts(number: str) -> bool:
    """True when the prefix belongs to a card scheme that issues numbers of this length."""
    length = len(number)
    first2, first3, first4 = int(number[:2]), int(number[:3]), int(number[:4])
    if number[0] == "4":  # Visa
        return length in (13, 16, 19)
    if 51 <= first2 <= 55 or 2221 <= first4 <= 2720:  # Mastercard
        return length == 16
    if first2 in (34, 37):  # American Express
        return length == 15
    if first2 in (36, 38, 39) or 300 <= first3 <= 305 or first4 == 3095:  # Diners Club
        return 14 <= length <= 19
    if 3528 <= first4 <= 3589 or 2200 <= first4 <= 2204:  # JCB, Mir
        return 16 <= length <= 19
    if number[0] == "6" or first2 in (50, 56, 57, 58):  # Discover, UnionPay, Maestro, RuPay
        return 13 <= length <= 19
    return False


def _card_shaped(groups: Sequence[str]) -> bool:
    """One compact block, or a first group of 4 then groups of 2-6 (4-4-4-4, 4-6-5, 4-4-4-4-3)."""
    if len(groups) == 1:
        return True
    return len(groups[0]) == 4 and all(2 <= len(group) <= 6 for group in groups[1:])


def _find_cards(scan: str) -> Iterator[tuple[int, int, str]]:
    for match in _DIGIT_GROUPS.finditer(scan):
        run = match.group()
        if len(run) < 13 or (" " in run and "-" in run):  # mixed separators: a list of numbers
            continue
        groups = _GROUP_SEPARATOR.split(run)
        offsets, position = [], match.start()
        for group in groups:
            offsets.append(position)
            position += len(group) + 1
        # Cards are cut at group boundaries only, longest first: "4111 1111 1111 1111 123" is a
        # card and its CVV.
        first = 0
        while first < len(groups):
            for last in range(len(groups) - 1, first - 1, -1):
                window = groups[first : last + 1]
                number = "".join(window)
                if (
                    13 <= len(number) <= 19
                    and _card_shaped(window)
                    and _card_issuer_accepts(number)
                    and _stdnum_luhn.is_valid(number)
                ):
                    yield offsets[first], offsets[last] + len(groups[last]), "payment_card"
                    first = last
                    break
            first += 1


# --------------------------------------------------------------------------------------------
# IBAN
# --------------------------------------------------------------------------------------------

# Country code, check digits, then the BBAN compact or in space-separated groups. The tail may
# swallow a short following word ("... 456 per favore"): the longest prefix that validates wins.
_IBAN_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}[A-Za-z0-9]*(?: [A-Za-z0-9]{1,4}){0,8}", re.ASCII
)
_IBAN_MIN_LENGTH, _IBAN_MAX_LENGTH = 15, 34  # Norway's 15 to the ISO maximum


def _find_ibans(scan: str) -> Iterator[tuple[int, int, str]]:
    for match in _IBAN_CANDIDATE.finditer(scan):
        tokens = match.group().split(" ")
        # Compact (one token) or grouped by four: every group but the last has four characters.
        grouped = 1
        while grouped < len(tokens) and len(tokens[grouped - 1]) == 4:
            grouped += 1
        tokens = tokens[:grouped]
        for count in range(len(tokens), 0, -1):
            compact = "".join(tokens[:count]).upper()
            if _IBAN_MIN_LENGTH <= len(compact) <= _IBAN_MAX_LENGTH and _stdnum_iban.is_valid(
                compact
            ):
                yield match.start(), match.start() + len(" ".join(tokens[:count])), "iban"
                break


# --------------------------------------------------------------------------------------------
# Codice fiscale and partita IVA
# --------------------------------------------------------------------------------------------

# Surname 3, name 3, year 2, month letter, day 2, municipality letter + 3, check letter. Digits may
# be replaced by LMNPQRSTUV (omocodia, from the right), so they may be letters too.
_OMOCODE = "0-9LMNPQRSTUVlmnpqrstuv"
_CODICE_FISCALE = re.compile(
    rf"(?<![A-Za-z0-9])[A-Za-z]{{6}}[{_OMOCODE}]{{2}}[ABCDEHLMPRSTabcdehlmprst]"
    rf"[{_OMOCODE}]{{2}}[A-Za-z][{_OMOCODE}]{{3}}[A-Za-z](?![A-Za-z0-9])",
    re.ASCII,
)
# Digit-first prefilter (see _DIGIT_SIGNALS): the code from the year's last digit on (5T10A562S
# in RSSMRA85T10A562S). Omocodia replaces that digit only after five others, which nobody has.
_CODICE_FISCALE_HINT_TAIL = (
    rf"[ABCDEHLMPRSTabcdehlmprst][{_OMOCODE}]{{2}}[A-Za-z][{_OMOCODE}]{{3}}[A-Za-z]"
)
# One random 11-digit number in ten passes the check digit, so a cue is required: a P.IVA / VAT /
# codice fiscale label before it, or the EU VAT prefix IT.
_PARTITA_IVA = re.compile(
    r"(?:(?<![\w.])(?P<cue>(?i:p\.?\s?iva|partita\s+iva|vat(?:\s+(?:reg(?:istration)?|id))?"
    r"|c\.?\s?f|cod(?:ice|\.)?\s+fisc(?:ale|\.)?))\b\.?"
    r"(?i:\s{0,3}(?:number|no|nr|n|num|numero|is|è|[:#=°º.]))*\s{0,3}(?:IT\s?)?"
    r"|(?<![A-Za-z0-9])IT\s?)"
    r"(?P<number>\d{11})(?![\w]|[.,]\d)"
)


def _find_codici_fiscali(scan: str) -> Iterator[tuple[int, int, str]]:
    for match in _CODICE_FISCALE.finditer(scan):
        if _stdnum_codicefiscale.is_valid(match.group().upper()):
            yield match.start(), match.end(), "codice_fiscale"


def _find_partite_iva(scan: str) -> Iterator[tuple[int, int, str]]:
    for match in _PARTITA_IVA.finditer(scan):
        if not _stdnum_iva.is_valid(match.group("number")):
            continue
        cue = (match.group("cue") or "").lower()
        # A company's codice fiscale is its 11-digit VAT number: keep the label the author used.
        kind = "codice_fiscale" if cue.startswith("c") else "partita_iva"
        start = match.start("number")
        if scan[start - 2 : start] == "IT":  # the EU form IT01234567890 is one identifier
            start -= 2
        yield start, match.end("number"), kind


# --------------------------------------------------------------------------------------------
# Reference numbers (order, booking, account, ticket)
# --------------------------------------------------------------------------------------------

# Cue words, lowercase, English then Italian. "ref"/"reference" alone count as a booking
# reference (travel care), "ticket" as a support ticket (an airline e-ticket number is one too).
_REFERENCE_CUE_WORDS: dict[str, tuple[str, ...]] = {
    "order_number": (
        "order", "orders", "purchase", "tracking", "shipment", "consignment", "parcel",
        "invoice", "receipt", "waybill",
        "ordine", "ordini", "spedizione", "pacco", "fattura", "ricevuta", "scontrino",
    ),
    "booking_reference": (
        "booking", "bookings", "reservation", "confirmation", "pnr", "record locator", "locator",
        "ref", "reference", "itinerary",
        "prenotazione", "conferma",
    ),
    "account_number": (
        "account", "acct", "a/c", "customer", "client", "member", "membership", "loyalty",
        "frequent flyer", "policy", "contract", "subscriber", "meter",
        "cliente", "utente", "utenza", "contratto", "conto", "tessera", "polizza", "abbonamento",
        "pod", "pdr",
    ),
    "ticket_number": (
        "ticket", "tickets", "case", "complaint", "incident", "claim", "request",
        "pratica", "segnalazione", "reclamo", "richiesta", "protocollo", "prot.",
    ),
}  # fmt: skip
_REFERENCE_KIND = {
    word: kind for kind, words in _REFERENCE_CUE_WORDS.items() for word in words
}
# Runs on the lowercased text; the word boundary before the cue is checked by _starts_word.
_REFERENCE_CUE = re.compile(_trie_pattern(_REFERENCE_KIND) + r"(?!\w)")
# What may sit between the cue and the code ("order number is", "ordine n.", "booking ref:",
# "case #", "numero di pratica è"), then the code: letters, digits and inner dashes or slashes
# (112-3344556-7788990, 2023/12345). Matched on the original text, right after the cue.
_REFERENCE_TAIL = re.compile(
    r"(?i:\s{0,3}(?:[:#=(\-–]|n[°º]|(?:numbers?|num|nos?|nr|n|id|code|codice|ref|reference"
    r"|locator|is|was|are|numero|è)\b\.?)){0,4}\s{0,3}"
    r"(?P<code>[A-Za-z0-9](?:[A-Za-z0-9]|[-/](?=[A-Za-z0-9])){2,39})(?![\w@\-])"
)
# Prefilters. A numeric code has four digits in a row outside a handle (@115712), found by
# _DIGIT_SIGNALS; a code without them is an upper-case booking code (YK2JWF, XKQJPL) after a
# booking cue.
_UPPER_CODE = re.compile(r"[A-Z0-9]{5,8}(?![A-Za-z0-9])")
_BOOKING_STEMS = ("book", "reserv", "confirm", "pnr", "locator", "ref", "prenota", "conferma")

_DATE_LIKE = re.compile(r"\d{1,4}[-/]\d{1,2}[-/]\d{1,4}|(?:19|20)\d\d")
_NUMBER_WITH_UNIT = re.compile(r"\d+[a-z]+")  # 30minutes, 2hrs, 10am, 4gb, 3rd
_AFTER_AMOUNT = re.compile(
    r"\s?(?:[.,]\d|%|€|\$|£|(?i:dollars?|euros?|eur|usd|gbp|pounds?|bucks|days?|hours?|hrs?"
    r"|minutes?|mins?|weeks?|months?|years?|times|items?|units?|pieces?|giorni|ore|minuti"
    r"|settimane|mesi|anni|volte|pezzi)\b)"
)
# All-caps words a shouting customer may put after "booking ref"/"PNR": not codes.
_SHOUTED_WORDS = frozenset(
    {"PLEASE", "HELP", "URGENT", "THANKS", "ASAP", "AGAIN", "STILL", "TODAY", "NEEDED", "ISSUE"}
)


def _may_have_letter_code(text: str, lowered: str) -> bool:
    return any(stem in lowered for stem in _BOOKING_STEMS) and _UPPER_CODE.search(text) is not None


def _plausible_code(code: str, kind: str) -> bool:
    digits = sum(character.isdigit() for character in code)
    if digits == 0:
        # PNRs and booking codes may be letters only (XKQJPL): then they are written in capitals.
        return (
            kind == "booking_reference"
            and code.isalpha()
            and code.isupper()
            and 5 <= len(code) <= 8
            and code not in _SHOUTED_WORDS
        )
    if _DATE_LIKE.fullmatch(code) or _NUMBER_WITH_UNIT.fullmatch(code):
        return False
    if kind == "booking_reference" and code.isalnum() and code.isupper() and 5 <= len(code) <= 8:
        return True  # YK2JWF, ABC12D
    return digits >= 4


def _find_references(text: str, lowered: str) -> Iterator[tuple[int, int, str]]:
    for cue in _REFERENCE_CUE.finditer(lowered):
        if not _starts_word(lowered, cue.start()):
            continue
        tail = _REFERENCE_TAIL.match(text, cue.end())
        if tail is None:
            continue
        kind = _REFERENCE_KIND[cue.group()]
        if not _plausible_code(tail.group("code"), kind):
            continue
        if _AFTER_AMOUNT.match(text, tail.end()):  # "order 12345.50", "ticket 2500 euro"
            continue
        yield tail.start("code"), tail.end("code"), kind


# --------------------------------------------------------------------------------------------
# Street addresses
# --------------------------------------------------------------------------------------------

_STRONG_STREET_SUFFIXES = (
    "street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "ln", "highway",
    "hwy", "parkway", "pkwy",
)  # fmt: skip
# Suffixes that are also ordinary words: only after a Capitalised name (12 Abbey Court).
_WEAK_STREET_SUFFIXES = (
    "drive", "dr", "court", "ct", "place", "pl", "way", "terrace", "close", "crescent", "square",
    "sq", "circle", "cir", "trail", "row", "mews", "grove", "gardens", "plaza",
)  # fmt: skip
_STRONG_SUFFIX_SET = frozenset(_STRONG_STREET_SUFFIXES)
# House number (digit-first: not after a word, #, $, a dash or a slash), one to three street-name
# words, a street suffix; then optionally an apartment, a city and state + ZIP, or a UK postcode.
_EN_ADDRESS = re.compile(
    r"(?P<number>\d(?<![\w.,/:#@$£€\-]\d)\d{0,4}(?:-\d{1,5})?[A-Za-z]?)\s+"
    r"(?P<name>(?:(?:[A-Za-z][A-Za-z'’\-]*|\d{1,3}(?i:st|nd|rd|th))\.?\s+){1,3}?)"
    rf"(?P<suffix>(?i:{_trie_pattern(_STRONG_STREET_SUFFIXES + _WEAK_STREET_SUFFIXES)}))\b\.?"
    r"(?P<unit>,?\s+(?i:apt|apartment|suite|ste|unit|flat|fl|floor|#)\.?\s*#?\s*"
    r"[A-Za-z0-9\-]{1,6}\b)?"
    r"(?P<tail>,?\s+(?:[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2},?\s+)?(?:[A-Z]{2}\s+)?\d{5}(?:-\d{4})?\b"
    r"|,?\s+(?:[A-Z][a-z]+,?\s+)?[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b)?"
)
# Words that put a count, not a house number, before "road"/"street"/"way": "2 hours on the
# road", "5 minutes down the street", "3 times this way".
_EN_NAME_STOPWORDS = frozenset(
    """a an the on in at to for of and or but my your our their his her its this that these
    those from by with down up off out into onto over across along around past per via is are
    was were be been it i you we they me us no not more less other same next last few many
    times time hours hour hrs hr minutes minute mins min seconds secs days day weeks week months
    month years year miles mile km kms blocks block doors door people cars car stops stop
    dollars pounds euros bucks items orders ways lanes roads streets one two three""".split()
)

_IT_STREET_KINDS = (
    "via", "viale", "v.le", "piazza", "p.zza", "p.za", "piazzale", "p.le", "corso", "c.so",
    "largo", "vicolo", "strada", "contrada", "lungomare", "lungotevere", "borgo", "salita",
    "località", "loc.",
)  # fmt: skip
_IT_STREET_KIND = re.compile(_trie_pattern(_IT_STREET_KINDS) + r"(?!\w)")
_IT_MONTHS = (
    "gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre"
)
_IT_NAME_WORD = rf"(?:\d{{1,2}}\s+(?i:{_IT_MONTHS})|[^\W\d_][\w'’\-]*\.?)"
# After the street kind: one to five name words (Via XX Settembre, Via 4 Novembre, Corso Vittorio
# Emanuele II), the civic number (12, 12/A, 12b, n. 12); then optionally CAP, city and province.
_IT_ADDRESS_TAIL = re.compile(
    rf"\s+(?P<name>(?:{_IT_NAME_WORD}\s+){{0,4}}?{_IT_NAME_WORD})"
    r"(?:,\s*|\s+)(?i:n\.?\s*|n[°º]\s*|nr\.?\s*|civico\s+)?"
    r"(?P<civic>\d{1,4}(?:\s?/\s?[A-Za-z0-9]{1,2}\b|[A-Za-z](?![\w]))?)(?![\w]|[.,\-]\d)"
    r"(?P<tail>,?\s+\d{5}\b(?:\s+[A-ZÀ-Ý][\w'’]+(?:\s+[A-ZÀ-Ý][\w'’]+){0,2})?"
    r"(?:\s*(?:\([A-Z]{2}\)|\b[A-Z]{2}\b))?)?"
)
# First words after "via" that make it the preposition (via email, via the app, via sms).
_IT_NAME_STOPWORDS = frozenset(
    """email e-mail mail sms app web internet cavo posta chat telefono whatsapp twitter facebook
    instagram messenger dm pm messaggio messaggi bonifico paypal wifi fibra adsl satellite radio
    tv tweet text phone call and or but so to of for at on with from by all the a an my your
    our their this that these those his her it its me us them what which il lo la le gli un una
    uno per con da in su che mio mia tuo tua suo sua loro questo questa quel quella tutto
    tutti""".split()
)
# Words after the number that make it a count: "via Royal Mail 3 days ago", "via app 2 volte".
_COUNT_AFTER_NUMBER = re.compile(
    r"\s*(?:%|€|\$|£|(?i:volte|giorni|ore|minuti|mesi|anni|settimane|euro|eur|times|days?|hours?"
    r"|minutes?|weeks?|months?|years?|dollars?|pounds?|gb|mb|kb|mbps|km|persone|people)\b)"
)


def _find_english_addresses(text: str, first_digit: int) -> Iterator[tuple[int, int, str]]:
    for match in _EN_ADDRESS.finditer(text, first_digit):
        words = match.group("name").split()
        if any(word.lower().strip(".") in _EN_NAME_STOPWORDS for word in words):
            continue
        if _DATE_LIKE.fullmatch(match.group("number")):
            continue  # "in 2017 Main Street": a year, not a house number
        # "drive", "place", "way", "court"... are ordinary words: only a Capitalised street name
        # with a Capitalised suffix makes them an address (12 Abbey Court, not "2 hour drive").
        suffix = match.group("suffix")
        if suffix.lower() not in _STRONG_SUFFIX_SET and not (
            suffix[0].isupper() and all(word[0].isupper() or word[0].isdigit() for word in words)
        ):
            continue
        yield match.start(), match.end(), "address"


def _find_italian_addresses(text: str, lowered: str) -> Iterator[tuple[int, int, str]]:
    for kind in _IT_STREET_KIND.finditer(lowered):
        if not _starts_word(lowered, kind.start()):
            continue
        match = _IT_ADDRESS_TAIL.match(text, kind.end())
        if match is None:
            continue
        if match.group("name").split()[0].lower().strip(".,'’") in _IT_NAME_STOPWORDS:
            continue
        if _COUNT_AFTER_NUMBER.match(text, match.end("civic")):
            continue
        yield kind.start(), match.end(), "address"


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

# A stretch of digits and phone punctuation, not glued to a word or a dash before it
# (PP-006-234-348-863 is a case id); libphonenumber decides what inside it is a number. Matching
# short windows instead of the whole tweet keeps each matcher call to tens of microseconds.
_PHONE_WINDOW = re.compile(r"(?:\+\s?|\()?\d(?<![\w\-]\d)[\d \u00a0()./\-]{5,24}\d(?!\d)")
# Four or more dot-separated groups: a software version (Chrome 61.0.3163.100) or an IP address.
_DOTTED_VERSION = re.compile(r"\d{1,4}(?:\.\d{1,4}){3,}")
_LONG_DIGIT_BLOCK = re.compile(r"\d{18}")
_MIN_PHONE_DIGITS = 7


def _find_phones(
    scan: str, taken: Sequence[tuple[int, int, str]]
) -> Iterator[tuple[int, int, str]]:
    found: list[tuple[int, int]] = []
    for window in _PHONE_WINDOW.finditer(scan):
        start, end = window.span()
        digits = sum(character.isdigit() for character in window.group())
        if digits < _MIN_PHONE_DIGITS or _DOTTED_VERSION.search(window.group()):
            continue
        if _LONG_DIGIT_BLOCK.search(window.group()):
            continue  # more digits in one block than any dialled number (15 + a 00 prefix)
        if any(s <= start and end <= e for s, e, _ in taken):
            continue  # already an order number, an IBAN, a card...
        # A little context lets the matcher reject numbers glued to letters and date-times
        # ("2017-10-31 22:10" is not a US number: it looks for the ":10" after the candidate).
        left = max(0, start - 1)
        piece = scan[left : end + 3]
        # International form first (+39 ...), then national forms region by region.
        regions = ("ZZ", *PHONE_REGIONS) if "+" in piece else PHONE_REGIONS
        for region in regions:
            matcher = phonenumbers.PhoneNumberMatcher(
                piece, region, leniency=phonenumbers.Leniency.VALID
            )
            for phone in matcher:
                raw = phone.raw_string
                span = (left + phone.start, left + phone.end)
                # Two slashes are a date range ("12/22-01/8"), never a phone (02/1234567 is).
                if (
                    sum(character.isdigit() for character in raw) >= _MIN_PHONE_DIGITS
                    and raw.count("/") < 2
                    and all(span[1] <= s or e <= span[0] for s, e in found)
                ):
                    found.append(span)
            if found and found[-1][0] <= start + 2 and found[-1][1] >= end - 1:
                break  # the whole window is one number: no need to try other regions
    for start, end in found:
        yield start, end, "phone"


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

# One digit-first pass tells which digit detectors a tweet needs (each extra pass of `re` over a
# tweet costs about a microsecond): seven digits close together (phones, cards, IBANs, VAT
# numbers), the tail of a codice fiscale, four digits in a row outside a handle (a reference code).
_DIGIT_SIGNALS = re.compile(
    rf"\d(?:(?P<seven>{_SEVEN_DIGITS_TAIL})|(?P<codice_fiscale>{_CODICE_FISCALE_HINT_TAIL})"
    r"|(?<![@\d]\d)(?P<four>\d{3}))"
)


def _digit_signals(text: str, first_digit: int) -> tuple[bool, bool, bool]:
    """(seven digits close together, a codice fiscale tail, four digits that are not a year)."""
    seven = codice_fiscale = four = False
    for match in _DIGIT_SIGNALS.finditer(text, first_digit):
        signal = match.lastgroup
        if signal == "seven":
            seven = four = True
        elif signal == "codice_fiscale":
            codice_fiscale = True
        else:
            start = match.start()
            if not text.startswith(("19", "20"), start) or text[start + 4 : start + 5].isdigit():
                four = True  # a year is never a reference code
        if seven and codice_fiscale:
            break
    return seven, codice_fiscale, four


def _resolve(candidates: list[tuple[int, int, str]]) -> list[PiiSpan]:
    """Drop overlaps: the longest candidate wins, then the type first in `_PRIORITY`."""
    if not candidates:
        return []
    chosen: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(
        set(candidates), key=lambda c: (c[0] - c[1], _PRIORITY[c[2]], c[0])
    ):
        if all(end <= s or e <= start for s, e, _ in chosen):
            chosen.append((start, end, kind))
    chosen.sort()
    return [PiiSpan(kind, start, end) for start, end, kind in chosen]


def find_pii(text: str) -> list[PiiSpan]:
    """Personal data and reference numbers in `text`, sorted by start and never overlapping.

    Offsets are `str` indices into `text` itself (no normalisation is applied first), so
    `text[span.start:span.end]` is exactly the finding.
    """
    if not text:
        return []
    candidates: list[tuple[int, int, str]] = []
    if _EMAIL_AT.search(text):
        candidates.extend(_find_emails(text))

    digit = _DIGIT.search(text)
    if digit is None:
        # No digit: no phone, card, IBAN, tax code, address or numeric reference. Only a booking
        # code in capital letters (PNR XKQJPL) is left to look for.
        lowered = _lowered(text)
        if _may_have_letter_code(text, lowered):
            candidates.extend(_find_references(text, lowered))
        return _resolve(candidates)

    first_digit = digit.start()
    lowered = _lowered(text)
    wants_digits, wants_codice_fiscale, wants_code = _digit_signals(text, first_digit)
    # References and addresses are read on the original text: a handle or a link cannot stand
    # where their patterns expect a code or a street name.
    if wants_code or _may_have_letter_code(text, lowered):
        candidates.extend(_find_references(text, lowered))
    candidates.extend(_find_english_addresses(text, first_digit))
    if _IT_STREET_KIND.search(lowered):
        candidates.extend(_find_italian_addresses(text, lowered))

    if not (wants_digits or wants_codice_fiscale):
        return _resolve(candidates)
    # Digit detectors read a copy with links, handles and e-mails blanked: tweet ids in links and
    # numeric handles are not data.
    scan = _masked(text, [c for c in candidates if c[2] == "email"])
    if wants_codice_fiscale:
        candidates.extend(_find_codici_fiscali(scan))
    if wants_digits and _SEVEN_DIGITS.search(scan, first_digit):
        candidates.extend(_find_ibans(scan))
        candidates.extend(_find_cards(scan))
        candidates.extend(_find_partite_iva(scan))
        # Phones last, and only outside what is already explained: libphonenumber is the costly
        # part.
        candidates.extend(_find_phones(scan, list(candidates)))
    return _resolve(candidates)


def redact(text: str, spans: Sequence[PiiSpan] | None = None) -> str:
    """`text` with every span replaced by its type's mask (`[EMAIL]`, `[PHONE]`, ...).

    `spans` defaults to `find_pii(text)`. Spans are applied in order of start; one that overlaps an
    earlier span is skipped, and one outside the text raises ValueError.
    """
    if spans is None:
        spans = find_pii(text)
    pieces: list[str] = []
    cursor = 0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if not 0 <= span.start <= span.end <= len(text):
            raise ValueError(f"span {span.start}-{span.end} is outside a text of {len(text)}")
        if span.start < cursor:
            continue
        pieces.append(text[cursor : span.start])
        pieces.append(_MASKS.get(span.type, f"[{span.type.upper()}]"))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)
