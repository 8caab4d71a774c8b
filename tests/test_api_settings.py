"""Service settings from TRIAGE_* variables: defaults, parsing, and one-line errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.settings import Settings, SettingsError, get_settings, is_loopback, key_digest

KEY = "k" * 20


def test_defaults_are_safe():
    settings = Settings.from_env({})
    assert settings.host == "127.0.0.1" and settings.port == 8000 and settings.workers == 1
    assert settings.model_dir == Path("models/default") and settings.policy_path is None
    assert settings.max_batch == 256 and settings.max_body_bytes == 8 * 1024 * 1024
    assert 256 * 10_000 * 2 < settings.max_body_bytes < 10_000_000, "256 long posts fit; 10 MB does not"
    assert not settings.auth_enabled and settings.rate_limit == "1200/minute"
    assert settings.shutdown_delay_s + settings.graceful_timeout_s < 30


def test_every_variable_is_read():
    settings = Settings.from_env(
        {
            "TRIAGE_MODEL_DIR": "/models/x", "TRIAGE_POLICY": "/etc/policy.toml", "TRIAGE_MAX_BATCH": "64",
            "TRIAGE_MAX_BODY_BYTES": "100000", "TRIAGE_API_KEYS": f"{KEY}, {'j' * 16}", "TRIAGE_ADMIN_KEYS": "a" * 32,
            "TRIAGE_RATE_LIMIT": "10/second;100/minute", "TRIAGE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "TRIAGE_MAX_CONCURRENCY": "8", "TRIAGE_REQUEST_TIMEOUT_S": "2.5", "TRIAGE_HOST": "0.0.0.0",
            "TRIAGE_PORT": "9000", "TRIAGE_WORKERS": "2", "TRIAGE_LOG_LEVEL": "WARNING",
            "TRIAGE_SHUTDOWN_DELAY_S": "5", "TRIAGE_GRACEFUL_TIMEOUT_S": "15",
        }
    )
    assert settings.model_dir == Path("/models/x") and settings.policy_path == Path("/etc/policy.toml")
    assert (settings.max_batch, settings.max_body_bytes, settings.max_concurrency) == (64, 100000, 8)
    assert settings.api_key_digests == {key_digest(KEY), key_digest("j" * 16)}
    assert settings.admin_key_digests == {key_digest("a" * 32)}
    assert settings.rate_limit == "10/second;100/minute" and settings.redis_url.startswith("redis://")
    assert (settings.request_timeout_s, settings.host, settings.port, settings.workers) == (2.5, "0.0.0.0", 9000, 2)
    assert (settings.log_level, settings.shutdown_delay_s, settings.graceful_timeout_s) == ("warning", 5.0, 15.0)


def test_keys_are_kept_only_as_digests():
    settings = Settings.from_env({"TRIAGE_API_KEYS": KEY})
    assert KEY not in repr(settings) and key_digest(KEY).hex() not in repr(settings)
    assert all(len(digest) == 32 for digest in settings.api_key_digests)


@pytest.mark.parametrize("value", ["off", "OFF", "none", "0"])
def test_rate_limit_can_be_turned_off(value):
    assert Settings.from_env({"TRIAGE_RATE_LIMIT": value}).rate_limit is None


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"TRIAGE_HOST": "0.0.0.0"}, "TRIAGE_API_KEYS"),
        ({"TRIAGE_HOST": "192.168.1.10"}, "loopback"),
        ({"TRIAGE_PORT": "eighty"}, "TRIAGE_PORT"),
        ({"TRIAGE_PORT": "70000"}, "TRIAGE_PORT"),
        ({"TRIAGE_MAX_BATCH": "0"}, "TRIAGE_MAX_BATCH"),
        ({"TRIAGE_MAX_BODY_BYTES": "10"}, "TRIAGE_MAX_BODY_BYTES"),
        ({"TRIAGE_MAX_CONCURRENCY": "0"}, "TRIAGE_MAX_CONCURRENCY"),
        ({"TRIAGE_REQUEST_TIMEOUT_S": "nan"}, "TRIAGE_REQUEST_TIMEOUT_S"),
        ({"TRIAGE_REQUEST_TIMEOUT_S": "0"}, "TRIAGE_REQUEST_TIMEOUT_S"),
        ({"TRIAGE_WORKERS": "0"}, "TRIAGE_WORKERS"),
        ({"TRIAGE_LOG_LEVEL": "loud"}, "TRIAGE_LOG_LEVEL"),
        ({"TRIAGE_API_KEYS": "short"}, "TRIAGE_API_KEYS"),
        ({"TRIAGE_API_KEYS": "has space in the key 123"}, "TRIAGE_API_KEYS"),
        ({"TRIAGE_RATE_LIMIT": "lots"}, "TRIAGE_RATE_LIMIT"),
        ({"TRIAGE_REDIS_URL": "http://x"}, "TRIAGE_REDIS_URL"),
        ({"TRIAGE_SHUTDOWN_DELAY_S": "15", "TRIAGE_GRACEFUL_TIMEOUT_S": "20"}, "30 s"),
        ({"TRIAGE_SHUTDOWN_DELAY_S": "-1"}, "TRIAGE_SHUTDOWN_DELAY_S"),
    ],
)
def test_bad_values_fail_in_one_line_naming_the_variable(env, names):
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    message = str(error.value)
    assert names in message and "\n" not in message
    if "TRIAGE_API_KEYS" in env:
        assert env["TRIAGE_API_KEYS"] not in message, "keys are never quoted"


def test_binding_elsewhere_needs_keys():
    assert Settings.from_env({"TRIAGE_HOST": "0.0.0.0", "TRIAGE_API_KEYS": KEY}).host == "0.0.0.0"
    assert Settings.from_env({"TRIAGE_HOST": "::", "TRIAGE_ADMIN_KEYS": KEY}).auth_enabled


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                                ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                                ("::", False), ("10.0.0.1", False), ("example.com", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_get_settings_reads_the_environment_once(monkeypatch):
    get_settings.cache_clear()
    monkeypatch.setenv("TRIAGE_MAX_BATCH", "7")
    try:
        assert get_settings().max_batch == 7
        monkeypatch.setenv("TRIAGE_MAX_BATCH", "8")
        assert get_settings().max_batch == 7, "cached: settings are read once per process"
    finally:
        get_settings.cache_clear()
