"""DM suggestion rules and reasons (LABELLING.md, "DM")."""

from __future__ import annotations

from model.dm_advice import advise_dm
from model.normalise import normalise_tweet
from model.pii import find_pii
from model.records import Turn


def _advise(text: str, *, model_suggests=False, sentiment=0.0, urgency=1, context=()):
    return advise_dm(
        model_suggests=model_suggests,
        pii=find_pii(text),
        normalised_text=normalise_tweet(text),
        sentiment_score=sentiment,
        urgency_level=urgency,
        context=context,
    )


def test_personal_data_in_public_always_suggests_a_dm() -> None:
    suggest, reasons = _advise("charge me again on 4111 1111 1111 1111 and I'll sue")
    assert suggest and reasons[0] == "personal_data_exposed"


def test_security_concerns_always_suggest_a_dm() -> None:
    suggest, reasons = _advise("my account was hacked, someone changed my email")
    assert suggest and "security_concern" in reasons


def test_reasons_only_come_with_a_suggestion() -> None:
    assert _advise("what time do you open on sundays?") == (False, [])


def test_account_and_heated_reasons() -> None:
    suggest, reasons = _advise("where is my order #12345678??", model_suggests=True)
    assert suggest and reasons == ["account_data_needed"]
    angry = "THIRD TIME I ASK. WHERE IS MY REFUND!!!"
    assert "heated_exchange" in _advise(angry, model_suggests=True, sentiment=-0.9, urgency=2)[1]
    repeated = (Turn("customer", "hello?"),)
    assert "heated_exchange" in _advise("still nothing", model_suggests=True, sentiment=-0.8, urgency=1, context=repeated)[1]
    assert _advise("please help", model_suggests=True)[1] == ["account_data_needed"]


def test_cues_match_in_any_case() -> None:
    assert "security_concern" in _advise("MY ACCOUNT WAS HACKED")[1]
    assert "security_concern" in _advise("Addebito Sconosciuto sul mio conto")[1]
    assert _advise("Where is my PARCEL?", model_suggests=True)[1] == ["account_data_needed"]
