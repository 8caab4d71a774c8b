"""Model artifacts: a directory that carries its own contract (DESIGN.md rules 2 and 3).

```
models/default/
  manifest.json     model version, labels, thresholds, normaliser version, resolved training
                    config, library versions, metrics, sha256 of every other file
  config.toml       the resolved training recipe
  vocabulary.json, idf.safetensors, heads.safetensors, static_embeddings/...
                    the fitted parts (backend-specific)
  metrics.json, report.md, plots/*.png                    what training measured
```
Loading checks, before anything is deserialised, that the manifest's format and normaliser
version are ours, that every file it lists has the recorded sha256 and that no other file is
there. Fitted parts are plain data: JSON (vocabularies, configs) and safetensors (weights, IDF,
embeddings); nothing is unpickled, so no pickle, joblib or skops file is ever needed. The hashes
catch corrupted, partial or tampered copies; they are not a signature (whoever can write the
directory can rewrite the manifest), so mount model directories read-only in production.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from model.normalise import NORMALISER_VERSION

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1

class ArtifactError(Exception):
    """A model directory that cannot be loaded; the message is one line."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_files(directory: Path) -> list[str]:
    """Every regular file under `directory` except the manifest, as sorted POSIX relative paths."""
    return sorted(
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and path.name != MANIFEST_FILE
    )


def hash_files(directory: Path, files: list[str]) -> dict[str, str]:
    return {name: sha256_file(directory / name) for name in files}


def content_digest(hashes: dict[str, str]) -> str:
    """One digest over (path, sha256) pairs: changes whenever any listed file changes."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode())
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Hash every file of `directory` into `manifest["files"]` and write `manifest.json`."""
    manifest = dict(manifest)
    manifest["format"] = FORMAT_VERSION
    manifest["normaliser_version"] = NORMALISER_VERSION
    manifest["files"] = hash_files(directory, artifact_files(directory))
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_verified_manifest(directory: str | Path) -> dict[str, Any]:
    """Return the manifest of `directory` once every check passes; raise `ArtifactError` otherwise."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"no model directory at {directory}")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ArtifactError(f"{directory} has no {MANIFEST_FILE}: not a tweet-triage model")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{manifest_path} is not valid JSON ({error.__class__.__name__})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{manifest_path} has no file list")
    if manifest.get("format") != FORMAT_VERSION:
        raise ArtifactError(
            f"artifact format {manifest.get('format')!r} is not supported (this code reads format {FORMAT_VERSION})"
        )
    if manifest.get("normaliser_version") != NORMALISER_VERSION:
        raise ArtifactError(
            f"artifact was trained with normaliser version {manifest.get('normaliser_version')!r} but this "
            f"code normalises with version {NORMALISER_VERSION}: retrain the model"
        )
    listed = manifest["files"]
    present = artifact_files(directory)
    unlisted = sorted(set(present) - set(listed))
    if unlisted:
        raise ArtifactError(f"file {unlisted[0]!r} is not listed in the manifest: refusing to load")
    for name, expected in sorted(listed.items()):
        path = directory / name
        if ".." in Path(name).parts or not path.is_file():
            raise ArtifactError(f"file {name!r} listed in the manifest is missing")
        if sha256_file(path) != expected:
            raise ArtifactError(f"sha256 mismatch for {name!r}: the artifact was modified or is corrupt")
    return manifest
