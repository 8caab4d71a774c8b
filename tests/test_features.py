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
