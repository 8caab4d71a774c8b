"""Lifecycle: load once, reload (admin and SIGHUP) with good, changed and tampered artifacts, drain on SIGTERM.

Fast tests use TestClient and copies of the tiny model; the slow ones start `triage serve` in a
real uvicorn process (training/bench/api_load.running_server) and send it signals.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api_support import (
    ADMIN_KEY,
    GatedBackend,
    app_with,
    assert_error,
    keyed_settings,
    settings_for,
    stub_loaded,
)
from model.artifact import write_manifest
from model.priority import DEFAULT_POLICY_PATH
from serving import signals
from serving.app import ModelLoadError, create_app
from serving.state import ModelHolder

VERBOSE = {"TRIAGE_LOG_LEVEL": "debug"}  # so that the log checks see every line
TWEET = {"id": "t1", "text": "@brand my order never arrived, where is it?", "created_at": "2026-11-23T08:00:00Z"}


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def tamper(model_dir: Path) -> None:
    """Change one byte of a fitted part without updating the manifest."""
    path = model_dir / "vocabulary.json"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def retrain_in_place(model_dir: Path, version: str) -> None:
    """A valid new artifact in the same directory: another version, hashes recomputed."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["model_version"] = version
    (model_dir / "manifest.json").unlink()
    write_manifest(model_dir, manifest)


def custom_policy(path: Path, version: str, p2_minutes: int = 60) -> Path:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    text = text.replace('version = "2026.11.1"', f'version = "{version}"')
    text = text.replace("target_minutes = 60 ", f"target_minutes = {p2_minutes} ")
    path.write_text(text, encoding="utf-8")
    return path


def score(client, **headers):
    return client.post("/v1/score", json={"tweets": [TWEET]}, headers=headers)


def metric_value(client, prefix: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- reload through the admin endpoint ----------------------------------------------------------


def test_reload_swaps_a_new_artifact_in(tiny_model_dir, tmp_path):
    model_dir = copy_model(tiny_model_dir, tmp_path / "model")
    with TestClient(create_app(settings_for(model_dir))) as client:
        first = client.get("/readyz").json()
        retrain_in_place(model_dir, "2099.01.01-new")
        response = client.post("/v1/admin/reload")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "reloaded" and body["model_version"] == "2099.01.01-new"
        assert body["previous_model_version"] == first["model_version"]
        assert body["sha256"] != first["sha256"] and body["rolling_restart"] is False
        assert score(client).json()["model_version"] == "2099.01.01-new"
        ready = client.get("/readyz").json()
        assert (ready["model_version"], ready["sha256"]) == ("2099.01.01-new", body["sha256"])
        metrics = client.get("/metrics").text
        assert f'triage_model_info{{sha256="{body["sha256"]}",version="2099.01.01-new"}} 1.0' in metrics
        assert first["sha256"] not in metrics, "the old model's info series is removed"
        assert metric_value(client, 'triage_model_reloads_total{result="success"}') == 1


def test_tampered_artifact_leaves_the_old_model_serving(tiny_model_dir, tmp_path):
    model_dir = copy_model(tiny_model_dir, tmp_path / "model")
    with TestClient(create_app(settings_for(model_dir))) as client:
        before = client.get("/readyz").json()
        tamper(model_dir)
        response = client.post("/v1/admin/reload")
        error = assert_error(response, 409, "reload_failed")
        assert "sha256 mismatch" in error["error"]["message"]
        assert f"still serving {before['model_version']}" in error["error"]["message"]
        assert client.get("/readyz").json() == before
        assert score(client).status_code == 200
        assert metric_value(client, 'triage_model_reloads_total{result="failure"}') == 1


@pytest.mark.parametrize("breakage", ["missing-directory", "extra-file", "bad-policy", "missing-policy"])
def test_broken_reloads_are_clear_errors(tiny_model_dir, tmp_path, breakage):
    model_dir = copy_model(tiny_model_dir, tmp_path / "model")
    policy = custom_policy(tmp_path / "policy.toml", "p-1")
    with TestClient(create_app(settings_for(model_dir, policy_path=policy))) as client:
        if breakage == "missing-directory":
            shutil.rmtree(model_dir)
            expected = "no model directory"
        elif breakage == "extra-file":
            (model_dir / "evil.pkl").write_bytes(b"\x80\x04")
            expected = "not listed in the manifest"
        elif breakage == "bad-policy":
            policy.write_text(policy.read_text().replace("min_score = 85", "min_score = 10"))
            expected = "policy:"
        else:
            policy.unlink()
            expected = "policy:"
        error = assert_error(client.post("/v1/admin/reload"), 409, "reload_failed")
        assert expected in error["error"]["message"]
        assert client.get("/readyz").status_code == 200 and score(client).status_code == 200


def test_reload_rereads_the_policy(tiny_model_dir, tmp_path):
    """Policy changes take effect on reload, without retraining (issue 3, point 2)."""
    policy = custom_policy(tmp_path / "policy.toml", "brand-1", p2_minutes=60)
    with TestClient(create_app(settings_for(tiny_model_dir, policy_path=policy))) as client:
        assert client.get("/v1/model").json()["policy"]["version"] == "brand-1"
        custom_policy(policy, "brand-2", p2_minutes=45)
        response = client.post("/v1/admin/reload")
        assert response.json()["policy"] == {"name": "default", "version": "brand-2"}
        assert client.get("/readyz").json()["policy"]["version"] == "brand-2"
        assert client.get("/v1/model").json()["policy"]["version"] == "brand-2"


def test_reload_needs_an_admin_key_when_keys_are_on(tiny_model_dir):
    with TestClient(create_app(keyed_settings(tiny_model_dir))) as client:
        assert_error(client.post("/v1/admin/reload"), 401)
        assert client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_requests_in_flight_keep_the_model_they_started_with(tiny_model_dir):
    backend = GatedBackend()
    app = app_with(stub_loaded(backend, version="old-1"), settings_for(tiny_model_dir))
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(score, client)
        assert backend.entered.acquire(timeout=5)
        reloaded = client.post("/v1/admin/reload")  # not blocked by the request in flight
        assert reloaded.status_code == 200 and reloaded.json()["previous_model_version"] == "old-1"
        new_version = reloaded.json()["model_version"]
        assert score(client).json()["model_version"] == new_version, "new requests get the new model"
        backend.gate.set()
        assert in_flight.result(10).json()["model_version"] == "old-1"


# --- start-up and shutdown ----------------------------------------------------------------------


def test_startup_refuses_a_tampered_artifact(tiny_model_dir, tmp_path):
    model_dir = copy_model(tiny_model_dir, tmp_path / "model")
    tamper(model_dir)
    with pytest.raises(ModelLoadError, match="sha256 mismatch"):
        with TestClient(create_app(settings_for(model_dir))):
            pass


def test_readiness_turns_off_when_shutdown_begins(tiny_model_dir):
    app = create_app(settings_for(tiny_model_dir))
    holder: ModelHolder = app.state.holder
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        holder.draining = True  # what SIGTERM does first
        response = client.get("/readyz")
        assert_error(response, 503, "shutting_down")
        assert response.headers["retry-after"] == "1"
        assert score(client).status_code == 200, "requests still arriving are served while draining"
        assert client.get("/livez").status_code == 200
    assert holder.draining, "the lifespan's end marks the app as not ready"


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_signal_handlers_reload_on_sighup_and_drain_on_sigterm(tiny_model_dir, tmp_path):
    """The handlers the lifespan installs under `triage serve`, in this process."""
    model_dir = copy_model(tiny_model_dir, tmp_path / "model")
    holder = ModelHolder(model_dir)
    holder.reload()
    first_version = holder.current.version
    passed_on: list[int] = []
    previous_term = signal.signal(signal.SIGTERM, lambda sig, frame: passed_on.append(sig))
    previous_int = signal.getsignal(signal.SIGINT)
    outcomes: list[bool] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        restore = signals.install_signal_handlers(holder, loop, shutdown_delay_s=0.3, on_reload=outcomes.append)
        try:
            tamper(model_dir)
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_for(lambda: outcomes)
            assert outcomes == [False] and holder.current.version == first_version
            shutil.rmtree(model_dir)
            shutil.copytree(tiny_model_dir, model_dir)
            retrain_in_place(model_dir, "2099.02.02-hup")
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_for(lambda: len(outcomes) == 2)
            assert outcomes == [False, True] and holder.current.version == "2099.02.02-hup"
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert holder.draining and not holder.ready
            assert passed_on == [], "uvicorn is told to stop only after the delay"
            await wait_for(lambda: passed_on)
            assert passed_on == [signal.SIGTERM]
        finally:
            restore()

    try:
        asyncio.run(scenario())
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


async def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


# --- a real server --------------------------------------------------------------------------------


@pytest.mark.slow
def test_triage_serve_answers_the_curl_example(tiny_model_dir):
    from training.bench.api_load import running_server

    with running_server(tiny_model_dir, env=VERBOSE) as server:
        response = httpx.post(
            server.url + "/v1/score?explain=true&redact=true",
            json={"tweets": [{"id": "t1", "text": "@brand my card was charged twice, mail me at jo@example.com"}]},
        )
        assert response.status_code == 200
        result = response.json()["results"][0]
        expected = {"intent", "sentiment", "urgency", "dm", "pii", "priority", "explanation", "redacted_text"}
        assert expected <= set(result)
        assert httpx.get(server.url + "/livez").status_code == 200
        assert "triage_requests_total" in httpx.get(server.url + "/metrics").text
        log = server.log()
    assert "POST /v1/score 200" in log, "the access log is on"
    assert "jo@example.com" not in log and "charged twice" not in log


@pytest.mark.slow
def test_sighup_reloads_and_keeps_serving_on_a_tampered_artifact(tiny_model_dir, tmp_path):
    from training.bench.api_load import running_server

    model_dir = copy_model(tiny_model_dir, tmp_path / "model")
    with running_server(model_dir, env=VERBOSE) as server:
        before = httpx.get(server.url + "/readyz").json()
        tamper(model_dir)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "SIGHUP reload failed" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "sha256 mismatch" in server.log()
        assert httpx.get(server.url + "/readyz").json() == before
        assert httpx.post(server.url + "/v1/score", json={"tweets": [TWEET]}).status_code == 200
        shutil.rmtree(model_dir)
        shutil.copytree(tiny_model_dir, model_dir)
        retrain_in_place(model_dir, "2099.03.03-hup")
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while httpx.get(server.url + "/readyz").json()["model_version"] != "2099.03.03-hup":
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)


@pytest.mark.slow
def test_sigterm_drains_requests_in_flight(tiny_model_dir):
    """Checklist row 29: readiness goes 503 first, requests in flight finish, then the process exits."""
    from training.bench.api_load import running_server

    batch = {"tweets": [{"id": str(i), "text": "@brand where is my refund? I waited weeks! " * 20} for i in range(256)]}
    env = {"TRIAGE_SHUTDOWN_DELAY_S": "1.5", "TRIAGE_REQUEST_TIMEOUT_S": "25", **VERBOSE}
    with running_server(tiny_model_dir, env=env) as server:
        with ThreadPoolExecutor(4) as pool:
            in_flight = [
                pool.submit(httpx.post, server.url + "/v1/score?explain=true", json=batch, timeout=30) for _ in range(4)
            ]
            time.sleep(0.3)
            signalled = time.monotonic()
            server.signal(signal.SIGTERM)
            time.sleep(0.3)
            ready = httpx.get(server.url + "/readyz")
            assert_error(ready, 503, "shutting_down")
            assert httpx.get(server.url + "/livez").status_code == 200
            statuses = [future.result().status_code for future in in_flight]
        assert statuses == [200, 200, 200, 200], statuses
        assert server.process.wait(30) in (0, -signal.SIGTERM)
        assert time.monotonic() - signalled < 28, "drained within Kubernetes' grace period"
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/livez", timeout=2)
        log = server.log()
    assert "readiness is off" in log and "Traceback" not in log


@pytest.mark.slow
def test_a_stopping_server_answers_the_connection_it_has_just_accepted(tiny_model_dir):
    """A client that connected before shutdown began gets its answer, not a closed connection
    (uvicorn alone closes every connection without a request in progress the moment it stops)."""
    from training.bench.api_load import running_server

    body = json.dumps({"tweets": [TWEET]}).encode()
    request = b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    request += b"Content-Length: %d\r\n\r\n" % len(body) + body
    with running_server(tiny_model_dir, env={"TRIAGE_SHUTDOWN_DELAY_S": "0", **VERBOSE}) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            time.sleep(0.3)  # accepted by the server, no request yet
            server.signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while True:  # until the server stops accepting
                assert time.monotonic() < deadline, server.log()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                except ConnectionRefusedError:
                    break
                time.sleep(0.02)
            connection.sendall(request)
            answer = connection.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"connection: close" in answer.lower()
        assert server.process.wait(30) in (0, -signal.SIGTERM)


@pytest.mark.slow
def test_several_workers_share_the_load_and_reload_together(tiny_model_dir, tmp_path):
    from training.bench.api_load import running_server

    model_dir = copy_model(tiny_model_dir, tmp_path / "model")
    with running_server(model_dir, workers=2) as server:
        with httpx.Client(base_url=server.url) as client, ThreadPoolExecutor(16) as pool:
            body = {"tweets": [TWEET] * 64}
            before = cpu_seconds_of_children(server.pid)
            # 16 long-lived connections: through one shared socket they all went to one worker; with
            # SO_REUSEPORT the kernel spreads them by hash (all 16 on one worker: p = 3e-5).
            list(pool.map(lambda _: client.post("/v1/score", json=body), range(48)))
            used = sorted(cpu_seconds_of_children(server.pid)[pid] - before.get(pid, 0.0) for pid in before)
            assert used[-2] > 0.1 * used[-1], f"both workers score (CPU seconds per child: {used})"
            metrics = client.get("/metrics").text
            assert 'triage_requests_total{method="POST",route="/v1/score",status="200"} 48.0' in metrics

            # Rolling restarts under steady traffic, a new connection per request: none may fail
            # (a worker's socket closed with connections queued reset them; a stopping worker closed
            # connections it had accepted before their request arrived).
            versions = {client.get("/v1/model").json()["model_version"], "2099.04.04-workers", "2099.04.05-workers"}
            outcomes: list[str] = []
            stop = threading.Event()

            def steady_traffic() -> None:
                while not stop.is_set():
                    try:
                        answer = httpx.post(server.url + "/v1/score", json={"tweets": [TWEET]}, timeout=30)
                        outcomes.append(answer.json()["model_version"])
                    except httpx.HTTPError as error:
                        outcomes.append(type(error).__name__)

            senders = [threading.Thread(target=steady_traffic) for _ in range(6)]
            for sender in senders:
                sender.start()
            try:
                for version in ("2099.04.04-workers", "2099.04.05-workers"):
                    retrain_in_place(model_dir, version)
                    reloaded = client.post("/v1/admin/reload").json()
                    assert reloaded["model_version"] == version and reloaded["rolling_restart"] is True
                    deadline = time.monotonic() + 60
                    while set(outcomes[-12:]) != {version}:
                        assert time.monotonic() < deadline, server.log()
                        time.sleep(0.5)
            finally:
                stop.set()
                for sender in senders:
                    sender.join()
        failed = [outcome for outcome in outcomes if outcome not in versions]
        assert not failed and len(outcomes) > 100, (failed, len(outcomes))


def cpu_seconds_of_children(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each child process of `pid` (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    usage = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            usage[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return usage


@pytest.mark.slow
def test_the_load_benchmark_client_measures_a_real_server(tiny_model_dir):
    """The benchmark's client process (aiohttp) against `triage serve`: open and closed loop."""
    from training.bench.api_load import request_bodies, run_load, running_server

    bodies = request_bodies(["@brand my parcel is late again", "thanks, all sorted!"], 1, 4)
    with running_server(tiny_model_dir, env={"TRIAGE_RATE_LIMIT": "off"}) as server:
        paced = run_load(server.url, bodies, rate=20, duration_s=1.0, warmup_s=0.2)
        batches = run_load(server.url, request_bodies(["a late parcel"], 8, 2), concurrency=2,
                           duration_s=1.0, warmup_s=0.2, tweets_per_request=8)
    assert paced.requests == 20 and paced.errors == 0 and paced.status_counts == {"200": 20}
    assert 0 < paced.p50_ms <= paced.p99_ms <= paced.max_ms
    assert paced.send_late_p50_ms >= 0 and paced.client_cpu_s > 0
    assert batches.requests > 0 and batches.errors == 0 and batches.tweets_per_second > 0
