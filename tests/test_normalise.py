"""The one normaliser: what every backend sees, in training and serving."""

from __future__ import annotations

import emoji
import pytest

from model.normalise import EMAIL_TOKEN, URL_TOKEN, USER_TOKEN, _demojize, normalise_tweet


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # handles of any case, with underscores and digits (tweetnlp's `@[A-Z,0-9]+` mangles these)
        ("@Delta 2 hrs on the tarmac", "@user 2 hrs on the tarmac"),
        ("@brand_support my order is late", "@user my order is late"),
        ("@115712 thanks", "@user thanks"),
        ("hi @AmazonHelp and @UPS_Help", "hi @user and @user"),
        # URLs become one placeholder, even when punctuation follows
        ("see https://t.co/AbC123 now", f"see {URL_TOKEN} now"),
        ("www.example.com/path?x=1 broken", f"{URL_TOKEN} broken"),
        ("HTTP://EXAMPLE.COM/X", URL_TOKEN),
        # e-mails are not handles
        ("mail john.doe@gmail.com please", f"mail {EMAIL_TOKEN} please"),
        # HTML entities, even double-escaped
        ("fish &amp; chips", "fish & chips"),
        ("fish &amp;amp; chips", "fish & chips"),
        ("&lt;3 it", "<3 it"),
        # emoji become word tokens
        ("love it 😍", "love it :smiling_face_with_heart-eyes:"),
        ("👨‍👩‍👧 trip", ":family_man_woman_girl: trip"),
        ("👍🏽", ":thumbs_up_medium_skin_tone:"),
        # zero-width and bidi controls are invisible: removed
        ("pass\u200bword", "password"),
        ("re\u00adfund", "refund"),
        ("\ufeffhello", "hello"),
        ("abc\u202edcba\u202c", "abcdcba"),
        ("x\u2066y\u2069", "xy"),
        # fullwidth and mathematical letters fold to ASCII (NFKC)
        ("ｆｒｅｅ ｓｔｕｆｆ", "free stuff"),
        ("𝐟𝐫𝐞𝐞", "free"),
        # elongations and whitespace
        ("soooooo slow!!!!!!", "sooo slow!!!"),
        ("order 1000000 and 4444", "order 1000000 and 4444"),
        ("  line\none\r\ntwo\t ", "line one two"),
        # control characters (NUL, ANSI escapes) are dropped
        ("a\x00b \x1b[31mred", "ab [31mred"),
        ("plain ascii\x7f text", "plain ascii text"),
        # the cheap pre-checks never skip a match: mixed-case www, separators str.split knows
        ("go to Www.Example.it now", f"go to {URL_TOKEN} now"),
        ("MAIL JO@EXAMPLE.COM", f"MAIL {EMAIL_TOKEN}"),
        ("a\x0bb\x0cc\u2028d\u3000e\xa0f", "abc d e f"),  # \x0b \x0c are controls: dropped
    ],
)
def test_normalise_cases(text: str, expected: str) -> None:
    assert normalise_tweet(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "@Delta soooooo late!!!!!! https://t.co/x &amp;amp; ｆｒｅｅ 😡",
        "hi\u200b there \u202eevil\u202c 👨‍👩‍👧 ❤️ mail john@x.org",
        "Ciao @Trenitalia, il treno è in ritardo di 40' 😤 xké???",
        "&#8238;x &eacute; 1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿 #1 ©",
        "",
        "   ",
    ],
)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise_tweet(text)
    assert normalise_tweet(once) == once


def test_swapping_handles_and_urls_changes_nothing() -> None:
    a = normalise_tweet("@Delta my bag is lost https://t.co/aaa")
    b = normalise_tweet("@united my bag is lost http://bit.ly/zzz")
    assert a == b == f"{USER_TOKEN} my bag is lost {URL_TOKEN}"


@pytest.mark.parametrize("text", ["1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿 👍🏽👍 #1 © 👨‍👩‍👧 ❤️", "no emoji here", "mixed 😀 text 🙈 ok"])
def test_fast_demojize_matches_the_emoji_package(text: str) -> None:
    ours = " ".join(_demojize(text).split())
    reference = " ".join(emoji.demojize(text, delimiters=(" :", ": ")).split())
    assert ours == reference


def test_case_is_kept() -> None:
    assert normalise_tweet("WHY is my ORDER late") == "WHY is my ORDER late"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("xké nn mi rispondete? cmq l’ordine è fermo", "perché non mi rispondete? comunque l'ordine è fermo"),
        ("XKE nn funziona", "perché non funziona"),
        ("qlcs nn va", "qualcosa non va"),
        ("l’ordine n° 123", "l'ordine n° 123"),
    ],
)
def test_italian_texting_forms_and_elisions(text: str, expected: str) -> None:
    assert normalise_tweet(text) == expected


@pytest.mark.parametrize("text", ["msg me pls", "nnnice try", "see you at cmqx", "don't panic", "I’m here"])
def test_italian_forms_never_touch_english_words(text: str) -> None:
    assert normalise_tweet(text) == text.replace("’", "'")
