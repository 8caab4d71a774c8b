"""Run the service under uvicorn: `triage serve [--model DIR] [--host] [--port] [--workers]`.

Command-line flags become `TRIAGE_*` variables (the app reads nothing else), so that every
worker process of `--workers N` builds the same settings. Before uvicorn starts, the settings are
validated (no API keys: loopback only) and the model directory's hashes and the policy are
checked, so that a typo fails in a second with one line rather than in a worker's traceback.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from typing import Any

from uvicorn.supervisors import multiprocess as uvicorn_multiprocess

from serving.routes.admin import SUPERVISOR_ENV
from serving.settings import Settings, SettingsError, get_settings

APP_FACTORY = "serving.app:create_app_from_env"
logger = logging.getLogger("serving.server")


def logging_config(level: str) -> dict[str, Any]:
    """Plain one-line logs on stderr. uvicorn's access log stays off: ours logs the route
    template instead of the raw path and query, which a client chooses."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "serving": {"handlers": ["stderr"], "level": upper, "propagate": False},
        },
    }


def apply_overrides(environ: dict[str, str] | os._Environ, **overrides: Any) -> None:
    """Write command-line values into the environment as `TRIAGE_*` variables."""
    names = {"model": "TRIAGE_MODEL_DIR", "host": "TRIAGE_HOST", "port": "TRIAGE_PORT", "workers": "TRIAGE_WORKERS",
             "policy": "TRIAGE_POLICY"}
    for key, value in overrides.items():
        if value is not None:
            environ[names[key]] = str(value)


def preflight(settings: Settings) -> None:
    """Fail fast, in one line, on a missing or tampered model directory or a bad policy."""
    from model.artifact import read_verified_manifest
    from model.priority import load_policy

    # (Binding elsewhere than loopback without API keys is refused by `Settings` already.)
    read_verified_manifest(settings.model_dir)
    if settings.policy_path is not None:
        load_policy(settings.policy_path)


# --- several workers: one SO_REUSEPORT socket each ----------------------------------------------
#
# uvicorn's `--workers N` binds one socket in the supervisor and shares it; each worker's event
# loop accepts every pending connection it can in one go, so the few long-lived connections of a
# client pool usually all land on one worker while the others idle (measured: one worker at 100 %,
# the other at 0 %, half the throughput). With SO_REUSEPORT every worker listens on its own socket
# and the kernel spreads connections across them. We keep uvicorn's supervisor (health checks,
# restarts, rolling restart on SIGHUP) and only change how its workers get their socket.


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port) that other workers of this server may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    return sock


def check_port_free(host: str, port: int) -> None:
    """Refuse to start (one line) when something already listens there, even with SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            raise SettingsError(f"cannot listen on {host}:{port}: {error.strerror}") from None


class ReusePortProcess(uvicorn_multiprocess.Process):
    """A uvicorn worker that binds its own SO_REUSEPORT socket (in the worker, after the spawn)."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - in a worker
        super().target([reuse_port_socket(self.config.host, self.config.port)])


class ReusePortMultiprocess(uvicorn_multiprocess.Multiprocess):
    """uvicorn's supervisor, creating `ReusePortProcess` workers."""

    def run(self) -> None:
        # The supervisor builds workers through the module-level name `Process` (uvicorn 0.54);
        # point it at ours for as long as this supervisor runs, in this process only.
        original = uvicorn_multiprocess.Process
        uvicorn_multiprocess.Process = ReusePortProcess  # type: ignore[misc]
        try:
            super().run()
        finally:
            uvicorn_multiprocess.Process = original  # type: ignore[misc]


def serve(*, model: str | None = None, host: str | None = None, port: int | None = None,
          workers: int | None = None, policy: str | None = None) -> int:
    """Start uvicorn with the app; returns when the server has stopped.

    Raises `SettingsError`, `model.artifact.ArtifactError` or `model.priority.PolicyError` (one
    line each) before starting anything.
    """
    import uvicorn

    apply_overrides(os.environ, model=model, host=host, port=port, workers=workers, policy=policy)
    get_settings.cache_clear()
    settings = get_settings()
    preflight(settings)
    metrics_dir = None
    if settings.workers > 1:
        # Workers find the supervisor to ask it for a rolling restart after an admin reload, and
        # write their metrics where every worker's /metrics can read them all.
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics_dir = tempfile.mkdtemp(prefix="triage-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    options: dict[str, Any] = dict(
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=logging_config(settings.log_level),
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.graceful_timeout_s,  # a float works
        lifespan="on",
    )
    try:
        if settings.workers == 1:
            uvicorn.run(APP_FACTORY, **options)
        else:
            check_port_free(settings.host, settings.port)
            # A replacement worker must load, verify and smoke-test the model before it counts as
            # ready; uvicorn's default 5 s is short for a transformer model.
            config = uvicorn.Config(APP_FACTORY, timeout_worker_healthcheck=60, **options)
            logger.info("serving on %s:%d with %d workers", settings.host, settings.port, settings.workers)
            ReusePortMultiprocess(config, sockets=[]).run()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
