"""The featuriser computes exactly what scikit-learn's vectorizers compute, only faster."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model.features import FeatureSettings, TweetFeaturiser
from model.normalise import normalise_tweet

pytestmark = pytest.mark.usefixtures("data_dir")


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    from training.data import load_care

    rows = load_care("val", data_dir=data_dir)
    return [normalise_tweet(text) for text in rows["text"]] + ["", "!!!", ":pouting_face:", "a " * 300]


@pytest.fixture(scope="module")
def featuriser(texts) -> TweetFeaturiser:
    settings = FeatureSettings(static_embeddings=False, max_char_features=50_000)
    return TweetFeaturiser(settings).fit(texts[:600])


def test_fast_tfidf_equals_scikit_learn(featuriser, texts) -> None:
    ours = featuriser.transform(texts)
    reference = sp.hstack(
        [
            featuriser.word_vectorizer_.transform(texts),
            featuriser.char_vectorizer_.transform(texts),
            sp.csr_matrix(featuriser._lexicon_scores(texts) * featuriser.settings.lexicon_weight),
        ],
        format="csr",
    )
    assert ours.shape == reference.shape
    assert ours.has_canonical_format  # built in CSR order directly: sorted, no duplicates
    ours.check_format(full_check=True)
    assert abs(ours - reference).max() < 1e-6


def test_one_text_at_a_time_equals_the_batch(featuriser, texts) -> None:
    batch = featuriser.transform(texts[:20]).toarray()
    single = np.vstack([featuriser.transform([text]).toarray() for text in texts[:20]])
    np.testing.assert_allclose(batch, single, atol=1e-7)


def test_unseen_or_empty_text_gives_a_finite_row(featuriser) -> None:
    rows = featuriser.transform(["", "zzzzqqqq", "@user http"]).toarray()
    assert np.isfinite(rows).all()


def test_feature_names_cover_every_column(featuriser, texts) -> None:
    assert len(featuriser.feature_names_) == featuriser.transform(texts[:1]).shape[1]


def test_character_ngrams_survive_a_full_word_cache(featuriser, texts, monkeypatch) -> None:
    from model import features

    expected = featuriser.transform(texts[:50]).toarray()
    fresh = TweetFeaturiser(featuriser.settings)
    fresh.__dict__.update({k: v for k, v in featuriser.__dict__.items() if not k.startswith("_")})
    monkeypatch.setattr(features, "WORD_CACHE_SIZE", 3)
    np.testing.assert_allclose(fresh.transform(texts[:50]).toarray(), expected, atol=1e-7)
    assert len(fresh._fast_blocks[1]._word_columns) <= 3


@pytest.mark.parametrize(
    "text, sign",
    [
        ("i love this airline", 1),
        ("i do not love this airline", -1),
        ("the flight wasn't great", -1),
        ("worst delay ever, never flying again", -1),
        ("thanks for the help !", 1),
        ("my bag is at gate 4", 0),
    ],
)
def test_vader_words_lexicon_follows_valence_and_negation(text, sign) -> None:
    words = TweetFeaturiser(FeatureSettings(lexicon_method="vader_words", static_embeddings=False))
    words._set_up_lexicon()
    compound = float(words._lexicon_scores([text])[0, 3])
    assert np.sign(round(compound, 3)) == sign


def test_vader_words_lexicon_agrees_with_vader_on_most_tweets(texts) -> None:
    rules = TweetFeaturiser(FeatureSettings(static_embeddings=False))
    words = TweetFeaturiser(FeatureSettings(lexicon_method="vader_words", static_embeddings=False))
    rules._set_up_lexicon()
    words._set_up_lexicon()
    full, cheap = rules._lexicon_scores(texts), words._lexicon_scores(texts)
    assert np.corrcoef(full[:, 3], cheap[:, 3])[0, 1] > 0.9
    assert np.mean(np.abs(full - cheap).max(axis=1) < 1e-6) > 0.7  # VADER's other rules rarely fire


def test_an_unknown_lexicon_method_is_refused() -> None:
    with pytest.raises(ValueError, match="lexicon_method"):
        TweetFeaturiser(FeatureSettings(lexicon_method="afinn"))._set_up_lexicon()


@pytest.mark.slow
def test_word_cached_static_embeddings_equal_model2vec(default_model, texts) -> None:
    featuriser = default_model.backend.featuriser_
    static = featuriser.static_model_
    edge_cases = ["[UNK] foo[UNK]bar", "a " * 3000, "x" * 5000, "日本語のテキスト です", "caffè perché più"]
    sample = texts + edge_cases
    reference = static.encode(sample, use_multiprocessing=False).astype(np.float32)
    reference /= np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-9)
    ours = featuriser._static_embeddings(sample)
    np.testing.assert_allclose(ours, reference, atol=1e-3)  # model2vec averages in float16
    assert np.allclose(featuriser._static_embeddings(sample), ours)  # from the word cache now


@pytest.mark.slow
def test_static_embeddings_fold_a_token_mapping_and_weights_like_model2vec(default_model, texts) -> None:
    from model2vec import StaticModel

    from model.features import _StaticEmbeddingRows

    static = default_model.backend.featuriser_.static_model_
    rows = len(static.embedding)
    rng = np.random.default_rng(0)
    mapped = StaticModel(
        vectors=np.asarray(static.embedding, dtype=np.float32)[: rows // 2],
        tokenizer=static.tokenizer,
        token_mapping=rng.integers(0, rows // 2, size=rows),  # two token ids can share a row
        weights=rng.uniform(0.1, 2.0, size=rows).astype(np.float32),
        normalize=True,
    )
    reference = mapped.encode(texts, use_multiprocessing=False).astype(np.float32)
    reference /= np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-9)
    np.testing.assert_allclose(_StaticEmbeddingRows(mapped).vectors(texts), reference, atol=1e-3)
