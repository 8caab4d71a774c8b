"""Concurrent feedback writes against a real server: nothing lost, nothing doubled, p99 latency.

    python -m training.bench.feedback_load --model models/default [--writes 1000] [--workers 2]

Starts `triage serve` (its own process, `--workers` uvicorn workers writing one SQLite file, or
the database of TRIAGE_DATABASE_URL) with a fresh state directory, pushes real care tweets into
the inbox, then fires every write at once: `--writes` POST /v1/feedback requests, each with its own
Idempotency-Key, over up to `--concurrency` connections. A write answered 429/503 or cut off is
retried with the same key, as a client should. Then it counts the rows in the feedback table
(it must equal `--writes`), replays a tenth of the keys (the count must not move), and prints the
latency of a write (from its first attempt to its stored answer): p50, p90, p99, max.

Talks to the service over HTTP and to SQLite with the standard library: no `serving` import.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Sequence

from training.bench.api_load import percentile, running_server

FIELDS = (("intent", ["question"]), ("sentiment", "neutral"), ("urgency", 2), ("dm", True))


async def _write_all(url: str, tweet_ids: Sequence[str], writes: int, concurrency: int,
                     max_attempts: int = 30) -> tuple[list[float], Counter, int, list[dict]]:
    import httpx

    latencies: list[float] = []
    statuses: Counter = Counter()
    retries = 0
    sent: list[dict] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(60.0, pool=None)) as client:

        async def write(index: int) -> None:
            nonlocal retries
            field, value = FIELDS[index % len(FIELDS)]
            body = {"tweet_id": tweet_ids[index % len(tweet_ids)], "field": field, "value": value,
                    "agent": f"agent-{index % 17}"}
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            sent.append({"body": body, "headers": headers})
            started = time.perf_counter()
            for attempt in range(max_attempts):
                try:
                    response = await client.post("/v1/feedback", json=body, headers=headers)
                    status = response.status_code
                except httpx.TransportError:
                    status = 0
                if status in (200, 201):
                    latencies.append((time.perf_counter() - started) * 1000)
                    statuses[status] += 1
                    return
                if status not in (0, 429, 503, 504):
                    statuses[status] += 1
                    return
                retries += 1
                await asyncio.sleep(min(1.0, 0.05 * 2 ** attempt))
            statuses["gave_up"] += 1

        await asyncio.gather(*(write(index) for index in range(writes)))
    return latencies, statuses, retries, sent


async def _replay(url: str, sent: Sequence[dict]) -> Counter:
    import httpx

    statuses: Counter = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        for request in sent:
            response = await client.post("/v1/feedback", json=request["body"], headers=request["headers"])
            statuses[response.status_code] += 1
    return statuses


def run(model: str, writes: int, concurrency: int, workers: int, tweets: int, data_dir: str | None) -> int:
    import httpx

    from training.data import load_care

    state_dir = Path(tempfile.mkdtemp(prefix="triage-feedback-bench-"))
    database = state_dir / "inbox.sqlite3"
    care = load_care("train", data_dir=data_dir)
    records = [{"id": care[i]["id"], "text": care[i]["text"]} for i in range(tweets)]
    env = {"TRIAGE_STATE_DIR": str(state_dir), "TRIAGE_MAX_CONCURRENCY": str(max(256, concurrency)),
           "TRIAGE_REQUEST_TIMEOUT_S": "20"}
    with running_server(model, workers=workers, env=env) as server:
        response = httpx.post(server.url + "/v1/inbox", json={"tweets": records}, timeout=120)
        response.raise_for_status()
        tweet_ids = response.json()["added"]
        started = time.perf_counter()
        latencies, statuses, retries, sent = asyncio.run(_write_all(server.url, tweet_ids, writes, concurrency))
        elapsed = time.perf_counter() - started
        with sqlite3.connect(database) as connection:
            rows = connection.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
            distinct_keys = connection.execute("SELECT COUNT(DISTINCT idempotency_key) FROM feedback").fetchone()[0]
        server_side = _histogram_quantiles(httpx.get(server.url + "/metrics").text)
        replayed = asyncio.run(_replay(server.url, sent[: max(1, writes // 10)]))
        with sqlite3.connect(database) as connection:
            rows_after_replay = connection.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    latencies.sort()
    summary = {
        "writes": writes, "concurrency": concurrency, "workers": workers, "database": "sqlite (WAL)",
        "rows_stored": rows, "distinct_idempotency_keys": distinct_keys, "retries": retries,
        "statuses": {str(key): value for key, value in sorted(statuses.items(), key=str)},
        "replayed": {str(key): value for key, value in replayed.items()}, "rows_after_replay": rows_after_replay,
        "seconds": round(elapsed, 2), "writes_per_s": round(writes / elapsed, 1),
        "latency_ms": {name: round(percentile(latencies, q), 1) for name, q in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        "server_side_ms": server_side,
    }
    print(json.dumps(summary, indent=2))
    ok = rows == writes == rows_after_replay and distinct_keys == writes
    print(f"feedback writes: {writes} sent at once over {concurrency} connections to {workers} worker(s); "
          f"{rows} rows stored ({'exactly one per write' if ok else 'MISMATCH'}), {retries} retries; "
          f"latency p50 {summary['latency_ms']['p50']} ms, p99 {summary['latency_ms']['p99']} ms, "
          f"max {summary['latency_ms']['max']} ms; {summary['writes_per_s']} writes/s; "
          f"database write (lock wait included) p50 <= {server_side['db_write']['p50']} ms, "
          f"p99 <= {server_side['db_write']['p99']} ms")
    return 0 if ok else 1


def _histogram_quantiles(exposition: str) -> dict:
    """p50/p99 (as bucket upper bounds, ms) of the server's own histograms of the feedback writes:
    `db_write` (store call, lock wait included) and `request` (the whole request in the server)."""
    import re

    wanted = {"db_write": ("triage_feedback_write_seconds_bucket", None),
              "request": ("triage_request_duration_seconds_bucket", 'route="/v1/feedback"')}
    out = {}
    for name, (metric, must) in wanted.items():
        buckets: dict[float, float] = {}
        for line in exposition.splitlines():
            if line.startswith(metric + "{") and (must is None or must in line) and 'status="200"' not in line:
                bound = re.search(r'le="([^"]+)"', line).group(1)
                upper = float("inf") if bound == "+Inf" else float(bound)
                buckets[upper] = buckets.get(upper, 0.0) + float(line.rsplit(" ", 1)[1])
        total = buckets.get(float("inf"), 0.0)
        result = {}
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            bound = next((upper for upper in sorted(buckets) if total and buckets[upper] >= q * total), float("nan"))
            result[label] = round(bound * 1000, 1) if bound != float("inf") else "inf"
        out[name] = result
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="models/default", help="model directory")
    parser.add_argument("--writes", type=int, default=1000, help="feedback writes, all sent at once")
    parser.add_argument("--concurrency", type=int, default=1000, help="most connections open at once")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (processes) writing the database")
    parser.add_argument("--tweets", type=int, default=50, help="real tweets pushed into the inbox first")
    parser.add_argument("--data-dir", help="data directory (default: $TRIAGE_DATA_DIR, else ../shared/data)")
    args = parser.parse_args(argv)
    return run(args.model, args.writes, args.concurrency, args.workers, args.tweets, args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
