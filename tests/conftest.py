"""Shared fixtures: a tiny model trained once per session, and the default model for slow tests.

The tiny model is trained by the project's own `train` on a small slice of the real data (static
embeddings off, three folds), so every test that needs a model exercises the real pipeline in a
few seconds. Tests get the model directory or a loaded model; none may modify them (copy first).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = REPO_ROOT / "training" / "configs" / "default.toml"
DEFAULT_MODEL_DIR = Path(os.environ.get("TRIAGE_DEFAULT_MODEL_DIR", REPO_ROOT / "models" / "default"))

TINY_OVERRIDES = (
    "data.limit=400",
    "features.static_embeddings=false",
    "features.max_char_features=20000",
    "heads.cross_fit_folds=3",
    "heads.n_jobs=1",
)


def data_dir_or_skip() -> Path:
    from training.data import DataError, resolve_data_dir

    try:
        return resolve_data_dir()
    except DataError as error:
        pytest.skip(f"needs the data directory: {error}")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return data_dir_or_skip()


@pytest.fixture(scope="session")
def tiny_config():
    """The default recipe cut down to train in seconds."""
    from training.config import load_config

    return load_config(DEFAULT_RECIPE, TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, data_dir, tiny_config) -> Path:
    """A small but real model directory, trained once per test session."""
    from training.train import train

    return train(tiny_config, tmp_path_factory.mktemp("models") / "tiny", data_dir=data_dir)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from model import load_model

    return load_model(tiny_model_dir)


@pytest.fixture(scope="session")
def default_model_dir(data_dir) -> Path:
    """The default model (what `make setup` trains); trained here if it is missing."""
    if not (DEFAULT_MODEL_DIR / "manifest.json").is_file():
        from training.config import load_config
        from training.train import train

        train(load_config(DEFAULT_RECIPE), DEFAULT_MODEL_DIR, force=True, data_dir=data_dir)
    return DEFAULT_MODEL_DIR


@pytest.fixture(scope="session")
def default_model(default_model_dir):
    from model import load_model

    return load_model(default_model_dir)
