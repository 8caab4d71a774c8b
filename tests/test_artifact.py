"""Artifacts carry their contract; loading checks every hash before deserialising anything."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import load_model
from model.artifact import MANIFEST_FILE, ArtifactError, read_verified_manifest
from model.normalise import NORMALISER_VERSION

TEXTS = ["@Delta my bag never arrived, where is it?", "thanks, sorted now! 😍", "do you ship to Canada?"]


@pytest.fixture
def artifact_copy(tiny_model_dir, tmp_path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    return copy


def _rewrite_manifest(directory: Path, **changes) -> None:
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_round_trip_gives_identical_probabilities(tiny_model_dir, tiny_model) -> None:
    reloaded = load_model(tiny_model_dir)
    first, second = tiny_model.predict_proba(TEXTS), reloaded.predict_proba(TEXTS)
    for head in ("intent", "sentiment", "urgency", "dm"):
        np.testing.assert_array_equal(getattr(first, head), getattr(second, head))
    assert reloaded.version == tiny_model.version


def test_manifest_carries_the_contract(tiny_model_dir) -> None:
    manifest = read_verified_manifest(tiny_model_dir)
    assert manifest["normaliser_version"] == NORMALISER_VERSION
    assert manifest["labels"]["intent"] == ["complaint", "question", "praise"]
    assert set(manifest["thresholds"]) == {"intent", "urgency_cuts", "dm"}
    assert manifest["config"]["model"]["backend"] == "linear"
    assert {"python", "numpy", "scikit-learn"} <= set(manifest["versions"])
    assert "care_val.dm.f1" in manifest["metrics"]
    listed = set(manifest["files"])
    assert {"config.toml", "heads.safetensors", "metrics.json", "report.md"} <= listed
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    # Nothing that needs unpickling is ever written.
    assert not [name for name in listed if name.endswith((".pkl", ".joblib", ".skops", ".pt", ".bin"))]


def test_tampered_file_is_refused(artifact_copy) -> None:
    heads = artifact_copy / "heads.safetensors"
    data = bytearray(heads.read_bytes())
    data[-1] ^= 0xFF
    heads.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256 mismatch for 'heads.safetensors'"):
        load_model(artifact_copy)


def test_missing_file_is_refused(artifact_copy) -> None:
    (artifact_copy / "vocabulary.json").unlink()
    with pytest.raises(ArtifactError, match="'vocabulary.json' listed in the manifest is missing"):
        load_model(artifact_copy)


def test_unlisted_file_is_refused(artifact_copy) -> None:
    (artifact_copy / "extra.pkl").write_bytes(b"not ours")
    with pytest.raises(ArtifactError, match="'extra.pkl' is not listed"):
        load_model(artifact_copy)


def test_normaliser_version_mismatch_is_refused(artifact_copy) -> None:
    _rewrite_manifest(artifact_copy, normaliser_version=NORMALISER_VERSION + 1)
    with pytest.raises(ArtifactError, match="normaliser version"):
        load_model(artifact_copy)


def test_unknown_backend_and_bad_manifest_are_refused(artifact_copy, tmp_path) -> None:
    manifest = json.loads((artifact_copy / MANIFEST_FILE).read_text())
    manifest["backend"]["kind"] = "mystery"
    (artifact_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="unknown backend kind 'mystery'"):
        load_model(artifact_copy)
    (artifact_copy / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_model(artifact_copy)
    with pytest.raises(ArtifactError, match="no model directory"):
        load_model(tmp_path / "nowhere")


def test_errors_are_one_line(artifact_copy) -> None:
    (artifact_copy / "idf.safetensors").write_bytes(b"x")
    with pytest.raises(ArtifactError) as caught:
        load_model(artifact_copy)
    assert "\n" not in str(caught.value)


def test_the_same_weights_are_written_as_the_same_bytes(tiny_model, tmp_path) -> None:
    """The model version hashes the files: a save must not depend on anything but the weights
    (safetensors writes metadata keys in a per-process random order; several keys varied)."""
    written = []
    for attempt in range(6):
        directory = tmp_path / f"save{attempt}"
        directory.mkdir()
        tiny_model.backend.save(directory)
        written.append((directory / "heads.safetensors").read_bytes())
    assert all(content == written[0] for content in written)


def test_heads_files_written_with_one_key_per_output_kind_still_load(tiny_model, tmp_path) -> None:
    from safetensors.numpy import load_file, save_file

    from model.heads import BINARY_OUTPUTS
    from model.labels import SENTIMENTS
    from model.linear import HEADS_FILE, LinearBackend

    backend = tiny_model.backend
    backend.save(tmp_path)
    tensors = load_file(tmp_path / HEADS_FILE)
    legacy = {"binary_outputs": ",".join(BINARY_OUTPUTS), "sentiment": ",".join(SENTIMENTS)}
    save_file(tensors, tmp_path / HEADS_FILE, metadata=legacy)
    reloaded = LinearBackend.load(tmp_path, backend.describe())
    np.testing.assert_array_equal(reloaded.binary_weights_, backend.binary_weights_)

    save_file(tensors, tmp_path / HEADS_FILE, metadata={**legacy, "sentiment": "positive,neutral,negative"})
    with pytest.raises(ValueError, match="other outputs"):
        LinearBackend.load(tmp_path, backend.describe())
