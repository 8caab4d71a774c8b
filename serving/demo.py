"""`triage demo`: a fresh inbox full of real tweets, served with its page.

The CLI (the composition root) reads the tweets from the data directory and hands them here as
input records; this module starts the service on loopback with a fresh SQLite inbox in its own
state directory, pushes the tweets through `POST /v1/inbox` (scored on arrival, like any client
would) and prints the page's address. With `trickle_s`, a held-back tweet arrives every
`trickle_s` seconds, so the page's refresh can be watched.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from serving.store import SQLITE_FILE

PUSH_BATCH = 100


@dataclass
class DemoServer:
    """The demo service running in a background thread; `stop()` shuts it down."""

    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def spaced_in_time(records: Sequence[dict[str, Any]], now: datetime, seed: int = 7,
                   span_minutes: float = 90.0) -> list[dict[str, Any]]:
    """Give each record a `created_at` in the last `span_minutes`, most of them recent (as an inbox
    looks mid-shift): some tweets are fresh, some close to their respond-by, a few overdue."""
    import random

    rng = random.Random(seed)
    spaced = []
    for record in records:
        minutes_ago = span_minutes * rng.random() ** 2.5
        created = (now - timedelta(minutes=minutes_ago)).astimezone(timezone.utc)
        spaced.append({**record, "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return spaced


def fresh_state_dir(state_dir: Path) -> None:
    """Remove the demo inbox's SQLite files (and nothing else) so the demo starts empty."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        (state_dir / f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)


def start_server(model_dir: Path, state_dir: Path, host: str, port: int) -> DemoServer:
    """The service on `host:port` (loopback, no keys, no rate limit) with its inbox in `state_dir`."""
    import uvicorn

    from serving.app import create_app
    from serving.settings import Settings

    settings = Settings(model_dir=Path(model_dir), state_dir=Path(state_dir), host=host, port=port, rate_limit=None)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="triage-demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the demo service did not start on {host}:{port} (port in use? model missing?)")
        time.sleep(0.1)
    return DemoServer(url=f"http://{host}:{port}", server=server, thread=thread)


def push(url: str, records: Sequence[dict[str, Any]]) -> int:
    """POST the records to /v1/inbox in batches; returns how many were added."""
    import httpx

    added = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(records), PUSH_BATCH):
            response = client.post("/v1/inbox", json={"tweets": list(records[start:start + PUSH_BATCH])})
            response.raise_for_status()
            added += len(response.json()["added"])
    return added


def run_demo(records: Sequence[dict[str, Any]], *, model_dir: Path, state_dir: Path, host: str = "127.0.0.1",
             port: int = 8000, trickle_s: float = 0.0, serve: bool = True,
             say: Callable[[str], None] = lambda message: print(message, file=sys.stderr)) -> dict[str, Any]:
    """Load `records` into a fresh inbox and serve the page until Ctrl-C (or return at once
    when `serve` is false). Returns what was loaded."""
    now = datetime.now(timezone.utc)
    records = spaced_in_time(records, now)
    held_back = list(records[-max(1, len(records) // 10):]) if trickle_s > 0 else []
    first = records[: len(records) - len(held_back)]
    fresh_state_dir(state_dir)
    demo = start_server(model_dir, state_dir, host, port)
    try:
        say(f"demo: scoring {len(first)} tweets into a fresh inbox in {state_dir / SQLITE_FILE}")
        added = push(demo.url, first)
        print(f"inbox ready: {demo.url}/inbox  ({added} tweets; API at {demo.url}/docs)", flush=True)
        if not serve:
            return {"url": demo.url, "added": added}
        say("demo: Ctrl-C stops" + (f"; a new tweet arrives every {trickle_s:g} s" if held_back else ""))
        while True:
            time.sleep(trickle_s if held_back else 3600)
            if held_back:
                tweet = dict(held_back.pop(0), created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
                added += push(demo.url, [tweet])
    except KeyboardInterrupt:
        return {"url": demo.url, "added": added}
    finally:
        demo.stop()
