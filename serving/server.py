"""Run the service under uvicorn: `triage serve [--model DIR] [--host] [--port] [--workers]`.

Command-line flags become `TRIAGE_*` variables (the app reads nothing else), so that every
worker process of `--workers N` builds the same settings. Before uvicorn starts, the settings are
validated (no API keys: loopback only) and the model directory's hashes and the policy are
checked, so that a typo fails in a second with one line rather than in a worker's traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import socket
import tempfile
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
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


# --- stopping: no connection closed before its request is read ---------------------------------
#
# uvicorn's shutdown stops accepting and, in the same step, closes every connection that is not in
# the middle of a request, including one accepted a moment ago whose request has not arrived yet:
# its client, which did nothing wrong, sees "server disconnected" or, when the request was already
# in the socket buffer, "connection reset". Under steady traffic a rolling restart hit that race.
# So we stop accepting first (another worker, or the slot's queue, takes new connections), give
# the connections just accepted a moment to send their request, and only then let uvicorn shut down
# (Go's net/http `Server.Shutdown` likewise spares a new connection for its first 5 s).

FRESH_CONNECTION_GRACE_S = 1.0
"""How long a stopping server waits for connections it accepted to send their first request."""


class CloseWhileStopping:
    """ASGI wrapper: once its server is stopping, every response says `connection: close`.

    A response finished while the server drains would otherwise leave the connection looking
    reusable: uvicorn closes it a moment later, and a client that sent its next request on it in
    between sees a reset. With the header the client knows to open a new connection (Go's
    `Shutdown` likewise turns keep-alive off first)."""

    def __init__(self, app: Any, server: uvicorn.Server) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Any) -> None:
            if message["type"] == "http.response.start" and self.server.should_exit:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping to accept before it closes the connections it has accepted."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.config.loaded_app = CloseWhileStopping(self.config.loaded_app, self)  # (one server a process)
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.should_exit = True  # (already so after a signal; the responses from now on close)
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FRESH_CONNECTION_GRACE_S
        while loop.time() < deadline and any(
            connection.cycle is None for connection in self.server_state.connections  # no request yet
        ):
            await asyncio.sleep(0.01)
        await super().shutdown(sockets)


# --- several workers: one SO_REUSEPORT socket per worker slot, held by the supervisor ----------
#
# uvicorn's `--workers N` binds one socket in the supervisor and shares it; each worker's event
# loop accepts every pending connection it can in one go, so the few long-lived connections of a
# client pool usually all land on one worker while the others idle (measured: one worker at 100 %,
# the other at 0 %, half the throughput). With SO_REUSEPORT each of the N worker slots listens on
# its own socket and the kernel spreads connections across them.
#
# The supervisor binds those sockets and keeps them open for as long as it runs; workers inherit
# their slot's socket. A socket closed while connections wait in its accept queue resets them (the
# kernel hands them to the group's other sockets only with net.ipv4.tcp_migrate_req on), which
# clients saw as "connection reset" during rolling restarts when every worker bound its own socket.
# Now a leaving worker closes only its copy: a rolling restart starts a slot's new worker on the
# same socket and waits until it is ready before stopping the old one, so the queue is always
# served; after a crash, the slot's queued connections wait for the replacement instead of failing.
# We keep uvicorn's supervisor (health checks, restarts, rolling restart on SIGHUP, SIGTTIN/SIGTTOU)
# and only change which socket each new worker gets.


def tcp_socket(host: str) -> socket.socket:
    """An unbound TCP socket of the family of `host` (an IPv6 address, bracketed or not, or IPv4)."""
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)


def reuse_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on (host, port) that the other worker slots of this server share."""
    sock = tcp_socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(backlog)
    return sock


def check_port_free(host: str, port: int) -> None:
    """Refuse to start (one line) when something already listens there, even with SO_REUSEPORT."""
    with tcp_socket(host) as probe:
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            raise SettingsError(f"cannot listen on {host}:{port}: {error.strerror}") from None


class WorkerSlots:
    """The supervisor's listening sockets, one per worker slot, and the workers given them."""

    def __init__(self, host: str, port: int, count: int, backlog: int) -> None:
        self.host, self.port, self.backlog = host, port, backlog
        self.sockets: list[socket.socket] = []
        self.workers: list[SlotProcess] = []
        self.given = 0
        for _ in range(count):
            self.add()

    def add(self) -> None:
        """One more slot (SIGTTIN adds a worker)."""
        self.sockets.append(reuse_port_socket(self.host, self.port, self.backlog))

    def running(self) -> list[SlotProcess]:
        """The workers given a slot that have not exited (a worker not started yet counts)."""
        return [worker for worker in self.workers if worker.exitcode is None]

    def choose(self) -> int:
        """The slot for a new worker: one without a running worker, else the slot whose newest worker
        is the oldest. uvicorn's rolling restart starts each replacement before stopping the worker
        it replaces and, with `SlotMultiprocess` keeping its list oldest first, replaces the oldest
        first: so this is the slot of the worker being replaced."""
        newest: dict[int, int] = {}
        for worker in self.running():
            newest[worker.slot] = max(newest.get(worker.slot, 0), worker.order)
        empty = [slot for slot in range(len(self.sockets)) if slot not in newest]
        return empty[0] if empty else min(newest, key=newest.__getitem__)

    def assign(self, worker: SlotProcess) -> socket.socket:
        """Give a new worker its slot (`choose`) and its place in the start order; return the
        slot's socket."""
        worker.slot = self.choose()
        self.given += 1
        worker.order = self.given
        self.workers = [*self.running(), worker]
        return self.sockets[worker.slot]

    def drop_unserved(self) -> None:
        """Close the slots left without a running worker (SIGTTOU removed one)."""
        served = {worker.slot for worker in self.running()}
        for slot in reversed(range(len(self.sockets))):
            if slot not in served:
                self.sockets.pop(slot).close()
                for worker in self.workers:
                    worker.slot -= worker.slot > slot

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


class SlotProcess(uvicorn_multiprocess.Process):
    """A uvicorn worker listening on the socket of the slot `slots` chooses for it."""

    def __init__(self, config: Any, sockets: list[socket.socket], *, slots: WorkerSlots) -> None:
        # `sockets` is what uvicorn's supervisor passes every worker (none here): the slot's replaces it.
        super().__init__(config, [slots.assign(self)])

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class SlotMultiprocess(uvicorn_multiprocess.Multiprocess):
    """uvicorn's supervisor, giving each new worker the socket of its slot."""

    def __init__(self, config: Any, slots: WorkerSlots) -> None:
        super().__init__(config, sockets=[])
        self.slots = slots

    def restart_all(self) -> None:
        # uvicorn replaces the workers in list order; oldest first (a crashed worker's replacement
        # sits at its predecessor's place) is the order `WorkerSlots.choose` follows.
        self.processes.sort(key=lambda worker: worker.order)
        super().restart_all()

    def handle_ttin(self) -> None:
        self.slots.add()
        super().handle_ttin()

    def handle_ttou(self) -> None:
        super().handle_ttou()
        self.slots.drop_unserved()

    def run(self) -> None:
        # The supervisor builds workers through the module-level name `Process` (uvicorn 0.54);
        # point it at ours for as long as this supervisor runs, in this process only.
        original = uvicorn_multiprocess.Process
        uvicorn_multiprocess.Process = functools.partial(SlotProcess, slots=self.slots)  # type: ignore[misc]
        try:
            super().run()
        finally:
            uvicorn_multiprocess.Process = original  # type: ignore[misc]
            self.slots.close()


def serve(*, model: str | None = None, host: str | None = None, port: int | None = None,
          workers: int | None = None, policy: str | None = None) -> int:
    """Start uvicorn with the app; returns when the server has stopped.

    Raises `SettingsError`, `model.artifact.ArtifactError` or `model.priority.PolicyError` (one
    line each) before starting anything.
    """
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
    # A replacement worker must load, verify and smoke-test the model before it counts as ready;
    # uvicorn's default 5 s is short for a transformer model.
    config = uvicorn.Config(APP_FACTORY, timeout_worker_healthcheck=60, **options)
    try:
        if settings.workers == 1:
            server = DrainingServer(config)
            server.run()
            if not server.started:
                return STARTUP_FAILURE
        else:
            check_port_free(settings.host, settings.port)
            slots = WorkerSlots(settings.host, settings.port, settings.workers, config.backlog)
            logger.info("serving on %s:%d with %d workers", settings.host, settings.port, settings.workers)
            SlotMultiprocess(config, slots).run()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
