"""Recipes are complete TOML files; unknown or missing keys and wrong types are errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from training.config import ConfigError, config_from_dict, load_config

RECIPES = sorted(Path("training/configs").glob("*.toml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.name)
def test_shipped_recipes_load_and_round_trip(path) -> None:
    config = load_config(path)
    assert config_from_dict(tomllib.loads(config.to_toml())) == config


def test_overrides_change_only_existing_keys() -> None:
    config = load_config("training/configs/default.toml", ["heads.c_dm=0.5", "features.lexicon=false", "model.name=x"])
    assert config.heads.c_dm == 0.5 and config.features.lexicon is False and config.model.name == "x"
    for bad, message in [
        (["heads.c_dmm=1"], "does not have"),
        (["heads=1"], "section.key"),
        (["nope"], "section.key=value"),
        (["heads.c_dm=fast"], "must be of type float"),
        (["heads.cross_fit_folds=2.5"], "must be of type int"),
        (["features.lexicon=1"], "true or false"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config("training/configs/default.toml", bad)


def test_unknown_and_missing_keys_are_errors(tmp_path) -> None:
    text = Path("training/configs/default.toml").read_text()
    (tmp_path / "unknown.toml").write_text(text.replace("[heads]", "[heads]\nsurprise = 1"))
    with pytest.raises(ConfigError, match="unknown key heads.surprise"):
        load_config(tmp_path / "unknown.toml")
    (tmp_path / "missing.toml").write_text(text.replace("c_dm = 3.0\n", ""))
    with pytest.raises(ConfigError, match="missing key heads.c_dm"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "section.toml").write_text(text + "\n[extra]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_config(tmp_path / "section.toml")
    with pytest.raises(ConfigError, match="no recipe"):
        load_config(tmp_path / "absent.toml")
