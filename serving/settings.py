"""Service settings: read from `TRIAGE_*` environment variables only (DESIGN.md rule 4), validated once.

Every setting has a default that is safe on a laptop: no API keys means the service binds to
loopback only and refuses any other interface. A bad value stops the service at start-up with a
one-line `SettingsError` naming the variable.

| variable                    | default           | meaning                                                   |
|-----------------------------|-------------------|-----------------------------------------------------------|
| TRIAGE_MODEL_DIR            | models/default    | model directory to serve                                  |
| TRIAGE_POLICY               | (shipped policy)  | priority policy TOML; re-read on every reload             |
| TRIAGE_MAX_BATCH            | 256               | tweets per request (422 beyond)                           |
| TRIAGE_MAX_BODY_BYTES       | 8388608 (8 MiB)   | request body limit (413 beyond, chunked bodies included)  |
| TRIAGE_API_KEYS             | (none)            | comma-separated client keys (X-API-Key header; 401)       |
| TRIAGE_ADMIN_KEYS           | (none)            | comma-separated keys that may also call /v1/admin/*       |
| TRIAGE_RATE_LIMIT           | 1200/minute       | per key (per client address without keys); `off` disables |
| TRIAGE_REDIS_URL            | (none)            | share rate-limit counters between workers and replicas    |
| TRIAGE_MAX_CONCURRENCY      | 32                | requests in progress per worker before 503 + Retry-After  |
| TRIAGE_REQUEST_TIMEOUT_S    | 10                | time budget of a request (504 beyond)                     |
| TRIAGE_HOST / TRIAGE_PORT   | 127.0.0.1 / 8000  | where to listen                                           |
| TRIAGE_WORKERS              | 1                 | uvicorn worker processes                                  |
| TRIAGE_LOG_LEVEL            | info              | debug, info, warning, error                               |
| TRIAGE_SHUTDOWN_DELAY_S     | 0                 | on SIGTERM, seconds of 503 readiness before draining      |
| TRIAGE_GRACEFUL_TIMEOUT_S   | 20                | longest wait for in-flight requests when draining         |
| TRIAGE_STATE_DIR            | var               | writable directory of the inbox's SQLite file             |
| TRIAGE_DATABASE_URL         | (none)            | inbox store elsewhere, e.g. postgresql+psycopg://host/db  |
| TRIAGE_INBOX_MAX_ITEMS      | 500               | most items one GET /v1/inbox returns (`limit`)            |
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

ENV_PREFIX = "TRIAGE_"
KUBERNETES_GRACE_SECONDS = 30.0
MIN_KEY_CHARS = 16
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingsError(ValueError):
    """A setting with an unusable value; the message is one line and names the variable."""


def key_digest(key: str) -> bytes:
    """sha256 of an API key: only digests are kept in memory, never the keys themselves."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """The service's configuration; build it with `Settings.from_env` (or directly in tests)."""

    model_dir: Path = Path("models/default")
    policy_path: Path | None = None
    max_batch: int = 256
    max_body_bytes: int = 8 * 1024 * 1024
    # sha256 digests of the keys (see `key_digest`); empty = authentication off, loopback only.
    api_key_digests: frozenset[bytes] = field(default=frozenset(), repr=False)
    admin_key_digests: frozenset[bytes] = field(default=frozenset(), repr=False)
    rate_limit: str | None = "1200/minute"
    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    max_concurrency: int = 32
    request_timeout_s: float = 10.0
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    shutdown_delay_s: float = 0.0
    graceful_timeout_s: float = 20.0
    state_dir: Path = Path("var")
    database_url: str | None = field(default=None, repr=False)  # may carry a password
    inbox_max_items: int = 500

    def __post_init__(self) -> None:
        self.validate()

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_key_digests or self.admin_key_digests)

    def validate(self) -> None:
        """Cross-field checks; field parsing is in `from_env`."""
        if self.max_batch < 1:
            raise SettingsError("TRIAGE_MAX_BATCH must be at least 1")
        if self.max_body_bytes < 1024:
            raise SettingsError("TRIAGE_MAX_BODY_BYTES must be at least 1024")
        if self.max_concurrency < 1:
            raise SettingsError("TRIAGE_MAX_CONCURRENCY must be at least 1")
        if not self.request_timeout_s > 0:
            raise SettingsError("TRIAGE_REQUEST_TIMEOUT_S must be above 0")
        if not 0 < self.port < 65536:
            raise SettingsError("TRIAGE_PORT must be between 1 and 65535")
        if self.workers < 1:
            raise SettingsError("TRIAGE_WORKERS must be at least 1")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"TRIAGE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        if self.shutdown_delay_s < 0 or self.graceful_timeout_s < 0:
            raise SettingsError("TRIAGE_SHUTDOWN_DELAY_S and TRIAGE_GRACEFUL_TIMEOUT_S must be >= 0")
        # Kubernetes kills the pod `terminationGracePeriodSeconds` (default 30 s) after SIGTERM.
        if self.shutdown_delay_s + self.graceful_timeout_s >= KUBERNETES_GRACE_SECONDS:
            raise SettingsError(
                "TRIAGE_SHUTDOWN_DELAY_S + TRIAGE_GRACEFUL_TIMEOUT_S must stay under 30 s (Kubernetes' grace period)"
            )
        if not self.auth_enabled and not is_loopback(self.host):
            raise SettingsError(
                f"TRIAGE_HOST={self.host} needs TRIAGE_API_KEYS: without API keys the service binds to loopback only"
            )
        if self.rate_limit is not None:
            _parse_rate_limit(self.rate_limit)
        if self.inbox_max_items < 1:
            raise SettingsError("TRIAGE_INBOX_MAX_ITEMS must be at least 1")
        if self.database_url is None and _inside_data_dir(self.state_dir):
            raise SettingsError("TRIAGE_STATE_DIR must not be inside the read-only data directory (TRIAGE_DATA_DIR)")

    @property
    def store_url(self) -> str:
        """Where the inbox store lives: TRIAGE_DATABASE_URL, else the SQLite file in TRIAGE_STATE_DIR."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir.resolve() / 'inbox.sqlite3'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse the `TRIAGE_*` variables of `environ` (default: this process's environment)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return None if value is None or not value.strip() else value.strip()

        defaults = cls.__dataclass_fields__
        values: dict = {}
        if (value := get("MODEL_DIR")) is not None:
            values["model_dir"] = Path(value)
        if (value := get("POLICY")) is not None:
            values["policy_path"] = Path(value)
        for name, attr in (("MAX_BATCH", "max_batch"), ("MAX_BODY_BYTES", "max_body_bytes"),
                           ("MAX_CONCURRENCY", "max_concurrency"), ("PORT", "port"), ("WORKERS", "workers")):
            if (value := get(name)) is not None:
                values[attr] = _integer(name, value)
        for name, attr in (("REQUEST_TIMEOUT_S", "request_timeout_s"), ("SHUTDOWN_DELAY_S", "shutdown_delay_s"),
                           ("GRACEFUL_TIMEOUT_S", "graceful_timeout_s")):
            if (value := get(name)) is not None:
                values[attr] = _number(name, value)
        values["api_key_digests"] = _keys("API_KEYS", get("API_KEYS"))
        values["admin_key_digests"] = _keys("ADMIN_KEYS", get("ADMIN_KEYS"))
        if (value := get("RATE_LIMIT")) is not None:
            values["rate_limit"] = None if value.lower() in ("off", "none", "0") else value
        if (value := get("REDIS_URL")) is not None:
            if not value.startswith(("redis://", "rediss://", "unix://")):
                raise SettingsError("TRIAGE_REDIS_URL must start with redis://, rediss:// or unix://")
            values["redis_url"] = value
        if (value := get("HOST")) is not None:
            values["host"] = value
        if (value := get("STATE_DIR")) is not None:
            values["state_dir"] = Path(value)
        if (value := get("DATABASE_URL")) is not None:
            if not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
                raise SettingsError("TRIAGE_DATABASE_URL must start with sqlite:// or postgresql://")
            if value.startswith("postgresql://"):
                value = "postgresql+psycopg://" + value[len("postgresql://"):]  # psycopg 3, not psycopg2
            values["database_url"] = value
        if (value := get("INBOX_MAX_ITEMS")) is not None:
            values["inbox_max_items"] = _integer("INBOX_MAX_ITEMS", value)
        if (value := get("LOG_LEVEL")) is not None:
            values["log_level"] = value.lower()
        assert set(values) <= set(defaults)
        return cls(**values)


def _inside_data_dir(path: Path) -> bool:
    data_dir = os.environ.get(ENV_PREFIX + "DATA_DIR")
    if not data_dir:
        return False
    try:
        return path.resolve().is_relative_to(Path(data_dir).resolve())
    except OSError:
        return False


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name} must be an integer") from None


def _number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name} must be a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SettingsError(f"{ENV_PREFIX}{name} must be a finite number")
    return number


def _keys(name: str, value: str | None) -> frozenset[bytes]:
    if value is None:
        return frozenset()
    keys = [key.strip() for key in value.split(",") if key.strip()]
    for key in keys:
        # Never quote a key in the message: it would end up in logs.
        if len(key) < MIN_KEY_CHARS:
            raise SettingsError(f"{ENV_PREFIX}{name}: every key needs at least {MIN_KEY_CHARS} characters")
        if not all(33 <= ord(char) < 127 for char in key):
            raise SettingsError(f"{ENV_PREFIX}{name}: keys must be printable ASCII without spaces")
    return frozenset(key_digest(key) for key in keys)


def _parse_rate_limit(spec: str):
    from limits import parse_many

    try:
        items = parse_many(spec)
    except ValueError:
        raise SettingsError(
            "TRIAGE_RATE_LIMIT must look like '1200/minute' or '20/second;1000/hour', or be 'off'"
        ) from None
    if not items:
        raise SettingsError("TRIAGE_RATE_LIMIT is empty: write 'off' to disable rate limiting")
    return items


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (cached); tests build `Settings(...)` and pass it to `create_app`."""
    return Settings.from_env()
