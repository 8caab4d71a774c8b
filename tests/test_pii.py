"""Tests for model.pii: every detector, offsets, overlaps, redaction and the no-false-alarm list.

All personal data here is synthetic: documentation test numbers (Visa 4111..., the GB82 WEST IBAN,
the RSSMRA85T10A562S codice fiscale), Ofcom drama numbers, made-up addresses and codes.
"""

from __future__ import annotations

import dataclasses

import pytest

from model.pii import (
    PERSONAL_DATA_TYPES,
    PII_TYPES,
    REFERENCE_TYPES,
    PiiSpan,
    find_pii,
    redact,
)


def found(text: str) -> list[tuple[str, str]]:
    """(type, exact substring) for every span, which also checks the offsets."""
    return [(span.type, text[span.start : span.end]) for span in find_pii(text)]


# --- the public API -----------------------------------------------------------------------------


def test_types_are_partitioned_into_personal_and_reference():
    assert set(PII_TYPES) == PERSONAL_DATA_TYPES | REFERENCE_TYPES
    assert not PERSONAL_DATA_TYPES & REFERENCE_TYPES
    assert len(PII_TYPES) == len(set(PII_TYPES))
    assert PERSONAL_DATA_TYPES == {
        "email", "phone", "payment_card", "iban", "codice_fiscale", "partita_iva", "address"
    }  # fmt: skip
    assert REFERENCE_TYPES == {
        "order_number", "booking_reference", "account_number", "ticket_number"
    }  # fmt: skip


def test_span_is_frozen_and_serialises_to_the_output_contract():
    span = PiiSpan("email", 41, 60)
    assert span.to_dict() == {"type": "email", "start": 41, "end": 60}
    with pytest.raises(dataclasses.FrozenInstanceError):
        span.start = 0  # type: ignore[misc]


def test_offsets_point_at_the_exact_substring():
    text = "@AcmeCare hi, write to jane.doe@example.com or call +44 20 7946 0958"
    assert find_pii(text) == [
        PiiSpan("email", 23, 43),
        PiiSpan("phone", 52, 68),
    ]
    assert text[23:43] == "jane.doe@example.com"
    assert text[52:68] == "+44 20 7946 0958"


def test_offsets_are_code_points_after_emoji_and_accents():
    text = "😀😀 è urgente: scrivi a mario.rossi@libero.it"
    (span,) = find_pii(text)
    assert span.type == "email"
    assert text[span.start : span.end] == "mario.rossi@libero.it"
    assert span.start == text.index("mario")


@pytest.mark.parametrize("text", ["", " ", "hello", "@AppleSupport thanks!"])
def test_nothing_in_plain_text(text):
    assert find_pii(text) == []


def test_spans_are_sorted_and_never_overlap():
    text = (
        "order #123456, card 4111 1111 1111 1111, mail a.b@example.org, "
        "IBAN GB82 WEST 1234 5698 7654 32, tel 020 7946 0958, 221B Baker Street"
    )
    spans = find_pii(text)
    assert [span.type for span in spans] == [
        "order_number", "payment_card", "email", "iban", "phone", "address"
    ]  # fmt: skip
    for before, after in zip(spans, spans[1:]):
        assert before.end <= after.start


# --- e-mail -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("email me at john.doe+care@gmail.com please", "john.doe+care@gmail.com"),
        ("JOHN.DOE@EXAMPLE.COM", "JOHN.DOE@EXAMPLE.COM"),
        ("my e-mail: a_b-c@mail.example.co.uk.", "a_b-c@mail.example.co.uk"),
        ("scrivete a giulia.bianchi@libero.it grazie", "giulia.bianchi@libero.it"),
        ("(contact@acme-support.io)", "contact@acme-support.io"),
    ],
)
def test_email_found(text, expected):
    assert found(text) == [("email", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "@AppleSupport @115712 help",
        "thanks@AppleSupport",  # a handle glued to a word, no domain
        "a@b",
        "me@ home",
        "user@localhost",
        "john..doe@example.com is not a dot-atom",
    ],
)
def test_email_not_found(text):
    assert all(kind != "email" for kind, _ in found(text))


# --- phones -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call me +1 (415) 555-2671 now", "+1 (415) 555-2671"),
        ("call 415-555-2671 today", "415-555-2671"),
        ("toll free 1-800-275-2273", "1-800-275-2273"),
        ("ring 020 7946 0958 please", "020 7946 0958"),
        ("my mobile is 07911 123456", "07911 123456"),
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("chiamami al +39 347 123 4567", "+39 347 123 4567"),
        ("cell +39 347 1234567", "+39 347 1234567"),
        ("cell 347 123 4567", "347 123 4567"),
        ("ufficio 02 1234 5678", "02 1234 5678"),
        ("Roma 06 6982 1234", "06 6982 1234"),
        ("tel. 02/12345678", "02/12345678"),
        ("dall'estero 0039 347 1234567", "0039 347 1234567"),
        ("call +91 98765 43210", "+91 98765 43210"),
    ],
)
def test_phone_found(text, expected):
    assert found(text) == [("phone", expected)]


def test_two_phones_in_one_tweet():
    text = "chiamami al 347 123 4567 o allo 02 1234 5678"
    assert found(text) == [("phone", "347 123 4567"), ("phone", "02 1234 5678")]


@pytest.mark.parametrize(
    "text",
    [
        "tel 06 6982",  # six digits: below the seven-digit floor
        "call 555-1234",  # a US local number without its area code is not VALID
        "Chrome 61.0.3163.100 on macOS",
        "router at 192.168.100.254",
        "12345678",
    ],
)
def test_phone_not_found(text):
    assert all(kind != "phone" for kind, _ in found(text))


# --- payment cards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("card 4111 1111 1111 1111 exp 12/25", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
        ("card 4111111111111111", "4111111111111111"),
        ("mastercard 5555 5555 5555 4444", "5555 5555 5555 4444"),
        ("amex 3782 822463 10005 ok", "3782 822463 10005"),
        ("card 4111 1111 1111 1111 123", "4111 1111 1111 1111"),  # the CVV is not part of it
    ],
)
def test_card_found(text, expected):
    assert found(text) == [("payment_card", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # one digit changed: Luhn fails
        "card 5555 5555 5555 4445",  # a Mastercard test number with its check digit changed
        "number 9111 1111 1111 1110",  # Luhn-valid, but no card scheme starts with 9
        "visa 411111111111111",  # Luhn-valid Visa prefix, but 15 digits
        "4111 1111 1111 1111.50",  # an amount, not a card
    ],
)
def test_card_not_found(text):
    assert all(kind != "payment_card" for kind, _ in found(text))


# --- IBAN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "GB82 WEST 1234 5698 7654 32"),
        ("GB82WEST12345698765432", "GB82WEST12345698765432"),
        (
            "il mio IBAN è IT60 X054 2811 1010 0000 0123 456 per favore",
            "IT60 X054 2811 1010 0000 0123 456",
        ),
        ("IT60X0542811101000000123456", "IT60X0542811101000000123456"),
        ("iban it60x0542811101000000123456", "it60x0542811101000000123456"),
        ("DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
        ("NL91ABNA0417164300", "NL91ABNA0417164300"),
    ],
)
def test_iban_found(text, expected):
    assert found(text) == [("iban", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "IBAN GB83 WEST 1234 5698 7654 32",  # check digits changed
        "IT61 X054 2811 1010 0000 0123 456",  # check digits changed
        "IT60 X054 2811 1010 0000 0123 457",  # BBAN changed
        "GB82 WEST 1234 5698 7654",  # too short for GB
    ],
)
def test_iban_not_found(text):
    assert all(kind != "iban" for kind, _ in found(text))


# --- codice fiscale and partita IVA -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("CF RSSMRA85T10A562S", "RSSMRA85T10A562S"),
        ("il mio codice fiscale è rssmra85t10a562s", "rssmra85t10a562s"),
        ("omocodia: RSSMRA85T10A56NH", "RSSMRA85T10A56NH"),
    ],
)
def test_codice_fiscale_found(text, expected):
    assert found(text) == [("codice_fiscale", expected)]


@pytest.mark.parametrize(
    "text",
    ["CF RSSMRA85T10A562T", "RSSMRA85T10A562", "RSSMRA85Z10A562S", "XRSSMRA85T10A562S"],
)
def test_codice_fiscale_not_found(text):
    assert all(kind != "codice_fiscale" for kind, _ in found(text))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("P.IVA 00743110157", "00743110157"),
        ("partita iva: 00743110157", "00743110157"),
        ("PIVA n. 00743110157", "00743110157"),
        ("VAT number IT 00743110157", "00743110157"),
        ("VAT IT00743110157", "IT00743110157"),
        ("fattura a IT00743110157", "IT00743110157"),
    ],
)
def test_partita_iva_found(text, expected):
    assert found(text) == [("partita_iva", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "P.IVA 00743110158",  # check digit wrong
        "ecco 00743110157",  # valid check digit but no cue: one 11-digit number in ten passes
    ],
)
def test_partita_iva_not_found(text):
    assert all(kind != "partita_iva" for kind, _ in found(text))


def test_numeric_codice_fiscale_keeps_the_authors_label():
    assert found("C.F. 00743110157") == [("codice_fiscale", "00743110157")]


# --- addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "I live at 123 Main Street, Apt 4B, Springfield, IL 62704 help",
            "123 Main Street, Apt 4B, Springfield, IL 62704",
        ),
        ("send it to 221B Baker Street London NW1 6XE", "221B Baker Street London NW1 6XE"),
        ("the store at 350 5th Ave is closed", "350 5th Ave"),
        ("deliver to 42 elm rd please", "42 elm rd"),
        ("12 Abbey Road London", "12 Abbey Road"),
        ("88-05 Astoria Blvd, East Elmhurst", "88-05 Astoria Blvd"),
        ("moved to 7 Rose Court", "7 Rose Court"),
        ("abito in Via Roma 12, 20121 Milano", "Via Roma 12, 20121 Milano"),
        ("spedite a via Garibaldi, 15 per favore", "via Garibaldi, 15"),
        (
            "Piazza della Repubblica 10/A, 00185 Roma (RM)",
            "Piazza della Repubblica 10/A, 00185 Roma (RM)",
        ),
        ("Corso Vittorio Emanuele II 23, Torino", "Corso Vittorio Emanuele II 23"),
        ("viale Monza n. 3", "viale Monza n. 3"),
        ("Via XX Settembre 20", "Via XX Settembre 20"),
        ("Via 4 Novembre 12", "Via 4 Novembre 12"),
        ("largo Augusto 3b", "largo Augusto 3b"),
        ("vicolo Stretto 8", "vicolo Stretto 8"),
    ],
)
def test_address_found(text, expected):
    assert found(text) == [("address", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "2 hours on the road",
        "I waited 5 minutes down the street",
        "it's a 2 hour drive",
        "3 times this way",
        "store #1234 Main St",  # a store number, not a house number
        "via email 2 volte",
        "via the app 3 times",
        "sent via Royal Mail 3 days ago",
        "via cavo. E 8 down",
        "via sms al 827438",
        "hosted 2 webinars via @zoom_us and all was fine",
        "in corso da 3 giorni",
    ],
)
def test_address_not_found(text):
    assert all(kind != "address" for kind, _ in found(text))


# --- reference numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("order #123456 never came", ("order_number", "123456")),
        ("order number: 112-3344556-7788990", ("order_number", "112-3344556-7788990")),
        ("my order is 50770571", ("order_number", "50770571")),
        ("Order# 3632693-6196346. Not delivered", ("order_number", "3632693-6196346")),
        ("tracking number is RML0514765190A", ("order_number", "RML0514765190A")),
        ("numero d'ordine 123456789", ("order_number", "123456789")),
        ("ordine n. 12345", ("order_number", "12345")),
        ("l'ordine 123456 non è arrivato", ("order_number", "123456")),
        ("Numero di ricevuta 00620623", ("order_number", "00620623")),
        ("booking ref ABC12D", ("booking_reference", "ABC12D")),
        ("Booking no. YK2JWF", ("booking_reference", "YK2JWF")),
        ("PNR XKQJPL", ("booking_reference", "XKQJPL")),
        ("pnr was 6602592898, no refund", ("booking_reference", "6602592898")),
        ("confirmation code 8HJ2KL", ("booking_reference", "8HJ2KL")),
        ("their file ref kwiku14346", ("booking_reference", "kwiku14346")),
        ("codice prenotazione AB12CD", ("booking_reference", "AB12CD")),
        ("account no. 12345678", ("account_number", "12345678")),
        ("A/C no 12345678", ("account_number", "12345678")),
        ("customer number 99887766", ("account_number", "99887766")),
        ("codice cliente 7766554", ("account_number", "7766554")),
        ("numero contratto 123456789", ("account_number", "123456789")),
        ("case number 494610", ("ticket_number", "494610")),
        ("ticket #88231", ("ticket_number", "88231")),
        ("complaint #227878622388 still open", ("ticket_number", "227878622388")),
        ("numero di pratica è 494610", ("ticket_number", "494610")),
        ("protocollo n. 2023/12345", ("ticket_number", "2023/12345")),
        ("numero segnalazione 44556677", ("ticket_number", "44556677")),
    ],
)
def test_reference_found_and_spans_only_the_code(text, expected):
    assert found(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "order #XboxOneX arrived",  # no digit, not a capitals code
        "my order is 30minutes late",
        "order 6 identical bowls",
        "order 1000 units",
        "account was created in 2013",
        "case 2019",  # a year
        "ticket 2500 euro",  # an amount
        "booking ref PLEASE help",
        "codice di errore WS-37368-7",  # an error code has no reference cue
        "in order to fix it",
        "ordine di 30 euro",
        "in case 2 people ask",
    ],
)
def test_reference_not_found(text):
    assert all(kind not in REFERENCE_TYPES for kind, _ in found(text))


# --- no false alarms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "see you on 12/10/2023",
        "since 2023-10-12",
        "scade il 31.12.2024",
        "at 10:30 or 11.45",
        "from 09:00 to 17:30 on 2017-10-31 22:10:47",
        "it cost $1,299.99",
        "pagato €49,90",
        "totale 1.234,56 €",
        "a total of €1.234.567,89",
        "an order of 30 dollars",
        "treno 9514 in ritardo",
        "flight BA283 delayed",
        "Frecciarossa 9631 soppresso",
        "updated to iOS 11.0.3 yesterday",
        "Spotify 8.4.22.857 on Android 8.0.0",
        "look https://twitter.com/user/status/934567890123456789",
        "pic.twitter.com/AbC123xYz and https://t.co/S2LmU0Kmpw",
        "back in 2017, and 2018, and 2019",
        "45% off, 100% broken",
        "@115712 @1234567 @AppleSupport hi",
        "#1234567 trending",
        "iPhone 8 plus with 256GB",
    ],
)
def test_no_false_alarm(text):
    assert find_pii(text) == []


# --- overlaps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        # A checksum-validated IBAN wins over the account cue that names it.
        ("account number IT60X0542811101000000123456", ("iban", "IT60X0542811101000000123456")),
        # A cued order number wins over a Luhn-valid card of the same digits (one in ten pass).
        ("order number 4111111111111111", ("order_number", "4111111111111111")),
        # The longest span wins: no phone inside an order number.
        ("order 407-2140355-6395516 (12-Oct-2017)", ("order_number", "407-2140355-6395516")),
    ],
)
def test_overlap_resolution(text, expected):
    assert found(text) == [expected]


# --- redaction ----------------------------------------------------------------------------------


def test_redact_masks_every_span_with_its_type():
    text = "mail jane.doe@example.com, order #123456, call 020 7946 0958"
    assert redact(text) == "mail [EMAIL], order #[ORDER_NUMBER], call [PHONE]"


def test_redact_with_given_spans_and_nothing_found():
    text = "card 4111 1111 1111 1111 ok"
    assert redact(text, [PiiSpan("payment_card", 5, 24)]) == "card [PAYMENT_CARD] ok"
    assert redact(text, []) == text
    assert redact("nothing here") == "nothing here"


def test_redact_italian_tweet():
    text = "Via Roma 12, 20121 Milano, CF RSSMRA85T10A562S, IBAN IT60X0542811101000000123456"
    assert redact(text) == "[ADDRESS], CF [CODICE_FISCALE], IBAN [IBAN]"


def test_redact_skips_overlapping_spans_and_rejects_spans_outside_the_text():
    text = "0123456789"
    spans = [PiiSpan("phone", 0, 6), PiiSpan("email", 3, 8)]
    assert redact(text, spans) == "[PHONE]6789"
    with pytest.raises(ValueError):
        redact(text, [PiiSpan("phone", 5, 11)])
