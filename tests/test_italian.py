"""Italian as a first-class language (issue 7): language of each result, Italian personal data,
Italian wording with `locale=it` through Python, the CLI and HTTP, and the Italian training data.

Personal data here is synthetic: the RSSMRA85T10A562S codice fiscale and the IT60X054... IBAN of
documentation, the 00743110157 VAT number of the stdnum examples, made-up phones and addresses.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from model.language import UNDETERMINED, choose_languages, detect_language, primary_subtag
from model.normalise import normalise_tweet
from model.pii import PERSONAL_DATA_TYPES, find_pii


def lang_of(text: str, supported: tuple[str, ...] = ("en", "it")) -> str:
    return detect_language(normalise_tweet(text), supported)


# --- language detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("@TIM_Official la fibra non funziona da tre giorni, nessuno mi risponde", "it"),
        ("@Trenitalia il treno è in ritardo di 40 minuti", "it"),
        ("grazie mille!", "it"),
        ("nn funziona niente xké?", "it"),  # texting forms, written out by the normaliser
        ("l’ordine non è mai arrivato", "it"),  # typographic apostrophe
        ("@AmazonHelp my order never arrived, where is it?", "en"),
        ("thanks so much!", "en"),
        ("still waiting", "en"),
        ("@Delta my bag 😡😡 https://t.co/abc", "en"),
    ],
)
def test_short_tweets(text, expected):
    assert lang_of(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # Mixed tweets: the language most of the sentence is written in.
        ("@Vodafone_IT il mio router non si connette, ho provato il reset ma niente. Help please", "it"),
        ("@AppleSupport my iPhone says 'nessun servizio' since the update, what should I do?", "en"),
        ("Ho ordinato su Amazon il Black Friday deal ma il tracking dice ancora pending", "it"),
    ],
)
def test_mixed_tweets(text, expected):
    assert lang_of(text) == expected


@pytest.mark.parametrize("text", ["😡😡😡", "@Delta https://t.co/abc", "12345 !!!", "👍 @user"])
def test_nothing_to_tell_by_is_undetermined(text):
    assert lang_of(text) == UNDETERMINED


@pytest.mark.parametrize(
    "text, expected",
    [
        ("@AskPayPal Danke. Könnt Ihr mir bitte sagen, warum mein Konto gesperrt wurde?", "de"),
        ("@SNCF mon train est encore en retard, c'est la troisième fois cette semaine", "fr"),
        ("@Iberia mi vuelo fue cancelado y nadie me da una respuesta", "es"),
    ],
)
def test_other_languages_are_detected_not_forced_into_ours(text, expected):
    assert lang_of(text) == expected


def test_input_lang_wins_and_is_reduced_to_its_primary_subtag():
    texts = [normalise_tweet("my order never arrived"), normalise_tweet("il mio ordine")]
    assert choose_languages(["it-IT", None], texts, ("en", "it")) == ["it", "it"]
    assert primary_subtag("EN-gb") == "en"


def test_detection_on_the_italian_validation_split(data_dir):
    """Translated care tweets are recognised as Italian (short device names and numbers aside)."""
    from training.data import load_care_it

    texts = load_care_it("val", data_dir=data_dir)["text"]
    detected = [lang_of(text) for text in texts]
    assert detected.count("it") / len(detected) >= 0.97


# --- Italian personal data ----------------------------------------------------------------------


def kinds(text: str) -> list[tuple[str, str]]:
    return [(span.type, text[span.start : span.end]) for span in find_pii(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("il mio cf è RSSMRA85T10A562S, aiutatemi", ("codice_fiscale", "RSSMRA85T10A562S")),
        ("P.IVA 00743110157 sulla fattura sbagliata", ("partita_iva", "00743110157")),
        ("rimborso sull'IBAN IT60 X054 2811 1010 0000 0123 456", ("iban", "IT60 X054 2811 1010 0000 0123 456")),
        ("chiamatemi al 347 123 4567", ("phone", "347 123 4567")),
        ("il mio numero è +39 06 6982 1234", ("phone", "+39 06 6982 1234")),
        ("fisso 06 69821234", ("phone", "06 69821234")),
        ("tel. 02/12345678", ("phone", "02/12345678")),
        ("0039 347 1234567", ("phone", "0039 347 1234567")),
        ("abito in Via Giuseppe Verdi 8, 00184 Roma (RM)", ("address", "Via Giuseppe Verdi 8, 00184 Roma (RM)")),
        ("consegnate in C.so Vittorio Emanuele II 15", ("address", "C.so Vittorio Emanuele II 15")),
    ],
)
def test_italian_personal_data_found(text, expected):
    assert kinds(text) == [expected]
    assert expected[0] in PERSONAL_DATA_TYPES


@pytest.mark.parametrize(
    "text",
    [
        "codice fiscale RSSMRA85T10A562X",  # check character wrong (S is right)
        "codice fiscale RSSMRA85T10A562",  # one character short
        "P.IVA 00743110158",  # check digit wrong (7 is right)
        "IBAN IT60 X054 2811 1010 0000 0123 457",  # mod 97 check fails
        "IBAN IT61 X054 2811 1010 0000 0123 456",  # check digits wrong
    ],
)
def test_invalid_check_characters_are_not_data(text):
    assert kinds(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "il treno regionale 2345 delle 18:05 è in ritardo",
        "Italo 9921 cancellato",
        "IC 583 soppresso",
        "FR 9541 Milano-Roma: 40 minuti di ritardo",
        "treno 9514 del 23.11.2026 ore 18.05",
        "ritardo di 120 minuti sul Frecciarossa 1000",
        "binario 12, carrozza 8, posto 15A",
        "ordine da 1.250,00 € mai arrivato",
        "ordine di 89,90 euro",
        "pagato 1.299 euro",
        "ho pagato 2.500,00€ per il volo",
        "rimborso di 1250 euro",
        "bolletta di 134,56 € del 12/10/2026",
        "dal 15/03/2024 al 20/03/2024",
        "il 3 novembre 2026 alle 14:30",
        "scade il 31-12-2026",
    ],
)
def test_no_false_alarm_on_dates_prices_trains_and_amounts(text):
    assert kinds(text) == []


# --- the model: lang in every result, Italian wording, DM on Italian personal data ----------------

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
ITALIAN_COMPLAINT = {
    "id": "it1",
    "text": "@Trenitalia il treno è in ritardo di un'ora e nessuno risponde, vergognoso! Chiamatemi al 347 123 4567",
}


def test_every_result_says_its_language(tiny_model):
    results = tiny_model.score(
        [
            {"id": "1", "text": "my order never arrived, where is it?"},
            {"id": "2", "text": "il mio ordine non è mai arrivato, dov'è?"},
            {"id": "3", "text": "😡😡"},
            {"id": "4", "text": "mein Paket ist nicht angekommen und niemand antwortet mir"},
            {"id": "5", "text": "my order never arrived", "lang": "it"},
        ],
        now=NOW,
    )
    assert [(r["lang"], r["lang_supported"]) for r in results] == [
        ("en", True),
        ("it", True),
        (UNDETERMINED, False),
        ("de", False),
        ("it", True),
    ]
    assert all(r["priority"]["rank"] in ("P1", "P2", "P3", "P4") for r in results)  # still scored


def test_model_records_its_languages(tiny_model):
    assert tiny_model.languages == ("en", "it")


def test_language_augmented_copies_a_languages_rows_into_its_own_scaled_block():
    import numpy as np
    import scipy.sparse as sp

    from model.linear import language_augmented

    X = sp.csr_matrix(np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 4.0]]))
    augmented = language_augmented(X, np.array(["en", "it", "it"], dtype=object), ["it"], 0.5).toarray()
    np.testing.assert_array_equal(augmented, [[1, 2, 0, 0], [3, 0, 1.5, 0], [0, 4, 0, 2]])
    assert language_augmented(X, np.array(["en"] * 3, dtype=object), [], 0.5).shape == (3, 2)


def test_italian_tweets_score_with_their_own_sentiment_weights(tiny_model, tiny_model_dir):
    import numpy as np

    backend = tiny_model.backend
    assert tiny_model.manifest["backend"]["sentiment_languages"] == ["it"]
    assert set(backend.sentiment_language_weights_) == {"it"}  # saved and loaded with the heads
    own = backend.sentiment_language_weights_["it"]
    assert own.shape == backend.sentiment_weights_.shape and not np.allclose(own, backend.sentiment_weights_)

    text = ITALIAN_COMPLAINT["text"]
    as_italian = tiny_model.predict_proba([text], ["it"])
    as_english = tiny_model.predict_proba([text], ["en"])
    assert not np.allclose(as_italian.sentiment, as_english.sentiment)  # only sentiment has own weights
    np.testing.assert_allclose(as_italian.intent, as_english.intent)
    np.testing.assert_allclose(tiny_model.predict_proba([text]).sentiment, as_italian.sentiment)  # detected: it
    [result] = tiny_model.score([ITALIAN_COMPLAINT], now=NOW)
    scores = [result["sentiment"]["scores"][label] for label in ("negative", "neutral", "positive")]
    np.testing.assert_allclose(scores, as_italian.sentiment[0], atol=1e-4)

    # The explanation of an Italian tweet's sentiment adds up its Italian weights.
    features = backend.featurise([normalise_tweet(text)])
    columns, contributions = backend.contributions(features, 0, "sentiment:negative", "it")
    np.testing.assert_allclose(contributions, features.data * own[columns, 0], rtol=1e-6)


def test_italian_badge_and_reasons_with_locale_it(tiny_model):
    [english] = tiny_model.score([ITALIAN_COMPLAINT], now=NOW)
    [italian] = tiny_model.score([ITALIAN_COMPLAINT], now=NOW, locale="it")
    assert italian["priority"]["reason_codes"] == english["priority"]["reason_codes"]  # codes never change
    assert italian["priority"]["rank"] == english["priority"]["rank"]
    words = {"Reclamo", "Domanda", "Elogio", "Altro"}
    assert italian["priority"]["badge"]["text"].split(" · ")[1] in words
    assert "personal_data_exposed" in italian["dm"]["reasons"]  # the Italian mobile number
    assert "dati personali in pubblico" in italian["priority"]["reasons"] or len(italian["priority"]["reasons"]) == 4


def test_italian_tweet_through_the_cli(tiny_model_dir, tmp_path, capsys):
    from training.cli import main

    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps(ITALIAN_COMPLAINT) + "\n")
    code = main(["score", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(target),
                 "--now", "2026-11-23T10:00:00Z", "--locale", "it"])
    assert code == 0
    [result] = [json.loads(line) for line in target.read_text().splitlines()]
    assert result["lang"] == "it" and result["lang_supported"] is True
    assert result["priority"]["badge"]["text"].split(" · ")[1] in {"Reclamo", "Domanda", "Elogio", "Altro"}
    assert ITALIAN_COMPLAINT["text"] not in capsys.readouterr().err  # never log tweet text


def test_italian_tweet_through_the_api(tiny_model_dir):
    from fastapi.testclient import TestClient

    from api_support import settings_for
    from serving.app import create_app

    with TestClient(create_app(settings_for(tiny_model_dir))) as client:
        by_query = client.post("/v1/score", json={"tweets": [ITALIAN_COMPLAINT]}, params={"locale": "it"})
        by_header = client.post("/v1/score", json={"tweets": [ITALIAN_COMPLAINT]}, headers={"Accept-Language": "it-IT,it;q=0.9"})
        english = client.post("/v1/score", json={"tweets": [ITALIAN_COMPLAINT]})
        info = client.get("/v1/model").json()
    assert info["languages"] == ["en", "it"]
    for response in (by_query, by_header, english):
        assert response.status_code == 200, response.text
    italian = by_query.json()["results"][0]
    assert italian["lang"] == "it" and italian["lang_supported"] is True
    assert italian["priority"]["badge"]["text"].split(" · ")[1] in {"Reclamo", "Domanda", "Elogio", "Altro"}
    assert by_header.json()["results"][0]["priority"]["badge"] == italian["priority"]["badge"]
    assert english.json()["results"][0]["priority"]["badge"]["text"].split(" · ")[1] in {
        "Complaint", "Question", "Praise", "Other"
    }


# --- training data: no leak into the Italian figures --------------------------------------------


@pytest.mark.slow  # builds the whole training set (~10 s alone, more on a busy machine)
def test_training_set_leaves_out_what_italian_figures_are_measured_on(data_dir):
    from training.config import load_config
    from training.corpus import build_training_set
    from training.data import load_care_it, load_xlmt, text_keys

    from conftest import DEFAULT_RECIPE

    config = load_config(DEFAULT_RECIPE)
    training = build_training_set(config.data, data_dir)
    assert training.counts["care_it"] > 1000 and training.counts["sentipolc"] > 5000
    val = load_care_it("val", data_dir=data_dir)
    # Keys of 20+ characters identify a tweet (shorter ones, "grazie!", match by chance).
    originals = text_keys(_care_texts(data_dir, set(val["orig_id"])))
    translations = text_keys(val["text"])
    test_keys = text_keys(load_xlmt("italian", "test", data_dir=data_dir)["text"])
    keys = text_keys(training.texts)
    assert not originals & keys
    assert not translations & keys
    assert not test_keys & keys
    assert training.excluded["care_train_original_of_care_it_val"] == len(set(val["orig_id"]))


def _care_texts(data_dir, ids):
    from training.data import load_care

    return [row["text"] for row in load_care("train", data_dir=data_dir) if row["id"] in ids]


# --- the default model on Italian tweets (slow: needs the trained default model) -----------------


def _score(model, text: str, **record) -> dict:
    return model.score([{"id": "t", "text": text, **record}], now=NOW)[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "@Poste_Italiane il mio pacco doveva arrivare 5 giorni fa e non è ancora arrivato, vergognoso",
        # A terser "treno soppresso senza preavviso, terza volta..." scores complaint 0.66, just under
        # the Italian threshold (0.66, tuned on translated tweets): a known weakness (README, Italian).
        "@Trenitalia il treno delle 8 è stato soppresso senza preavviso, è la terza volta questa settimana. Siete una vergogna",
    ],
)
def test_italian_late_delivery_is_a_negative_complaint(default_model, text):
    result = _score(default_model, text)
    assert result["lang"] == "it"
    assert result["intent"]["label"] == "complaint"
    assert result["sentiment"]["label"] == "negative"


@pytest.mark.slow
def test_italian_thanks_is_positive_praise(default_model):
    result = _score(default_model, "@TIM_Official grazie mille, ora funziona tutto perfettamente! Siete i migliori 😍")
    assert result["intent"]["label"] == "praise"
    assert result["sentiment"]["label"] == "positive"
    assert result["priority"]["rank"] == "P4"


@pytest.mark.slow
def test_italian_question_is_a_question(default_model):
    result = _score(default_model, "@Vodafone_IT a che ora aprite il negozio la domenica?")
    assert result["intent"]["label"] == "question"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("@brand l’ordine non è mai arrivato", "@brand l'ordine non è mai arrivato"),
        ("@brand nn funziona niente xké?", "@brand non funziona niente perché?"),
    ],
)
def test_italian_spelling_variants_change_nothing(default_model, first, second):
    a, b = _score(default_model, first), _score(default_model, second)
    for head in ("intent", "sentiment", "urgency", "dm", "lang"):
        assert a[head] == b[head]


@pytest.mark.slow
def test_default_model_meets_the_italian_floors(default_model_dir):
    metrics = json.loads((default_model_dir / "manifest.json").read_text())["metrics"]
    assert metrics["care_it_val.intent.primary_macro_f1"] >= 0.68
    assert metrics["care_it_val.sentiment.macro_f1"] >= 0.70
    assert metrics["care_it_val.urgency.spearman"] >= 0.60
    assert metrics["care_it_val.dm.f1"] >= 0.72
    assert metrics["sentipolc_test.sentiment.macro_f1"] > metrics["sentipolc_test.baseline_bag_of_words.macro_f1"]
