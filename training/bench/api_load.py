"""Load benchmark of the scoring API: a real uvicorn on loopback, driven from a second process.

    python -m training.bench.api_load --model models/default [--workers 2] [--duration 10]

prints a Markdown table of one-tweet requests at fixed rates (50, 100, 200 req/s by default:
p50/p99 latency, errors) and of 64-tweet batch requests at full speed (tweets/s). Targets
(DESIGN.md): one tweet p50 < 5 ms and p99 < 25 ms at 100 req/s with 0 errors; batches >= 5,000
tweets/s on 2 cores.

How it measures
- The server is `triage serve` in its own process (`running_server`), with rate limiting off and
  warnings-only logs, on a free loopback port; the benchmark waits for /readyz.
- The load comes from another process (`python -m training.bench.api_load --client`, an asyncio
  aiohttp client), so that client and server do not share an interpreter.
- Fixed rates are open-loop: request i is sent at start + i / rate whatever happened to the
  earlier ones, and its latency is counted from that scheduled time, so a stall delays every
  request behind it and shows in the percentiles (no coordinated omission).
- Batch throughput is closed-loop: `concurrency` connections each send the next batch as soon as
  the previous answer arrives.
- Payloads are real customer tweets from care/train. Client and server share the machine's cores.

`run_api_benchmark` returns (results, markdown) for `triage bench`; `running_server` and
`run_load` are reusable on their own (the lifecycle tests start servers with `running_server`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

Progress = Callable[[str], None]

DEFAULT_RATES = (50.0, 100.0, 200.0)
WARMUP_S = 2.0
SERVER_ENV = {"TRIAGE_RATE_LIMIT": "off", "TRIAGE_LOG_LEVEL": "warning", "TRIAGE_MAX_CONCURRENCY": "256"}


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerHandle:
    """A `triage serve` process on loopback."""

    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait (SIGKILL past `timeout`); returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 120.0) -> dict:
    """Poll GET /readyz until it answers 200; returns its body."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before it was ready")
        try:
            response = httpx.get(url + "/readyz", timeout=2.0)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} was not ready within {timeout:.0f} s")


@contextlib.contextmanager
def running_server(
    model_dir: str | Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_timeout: float = 120.0,
) -> Iterator[ServerHandle]:
    """Start `triage serve` on a free loopback port, wait until ready, stop it (SIGTERM) after."""
    port = free_port()
    command = [
        sys.executable, "-m", "training.cli", "serve", "--model", str(model_dir),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]
    environment = {**os.environ, **SERVER_ENV, **(env or {})}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tempfile.NamedTemporaryFile("w", prefix="triage-serve-", suffix=".log", delete=False)
    process = subprocess.Popen(
        command, env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2]
    )
    handle = ServerHandle(f"http://127.0.0.1:{port}", process, Path(log.name))
    try:
        wait_ready(handle.url, process, ready_timeout)
        yield handle
    finally:
        handle.stop()
        log.close()
        Path(log.name).unlink(missing_ok=True)


# --- the load ----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What one load run measured."""

    label: str
    tweets_per_request: int
    target_rate: float | None  # open loop: requests per second
    concurrency: int | None  # closed loop: connections
    duration_s: float
    requests: int
    errors: int
    status_counts: dict[str, int] = field(default_factory=dict)
    p50_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    achieved_rps: float = 0.0
    client_cpu_s: float = 0.0  # CPU the load process used (warm-up included): taken from the server's cores
    send_late_p50_ms: float = float("nan")  # how late the client sent (its timer), within the latency

    @property
    def tweets_per_second(self) -> float:
        return (self.requests - self.errors) * self.tweets_per_request / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "tweets_per_second": round(self.tweets_per_second, 1)}


def run_load(
    url: str,
    payloads: Sequence[bytes],
    *,
    rate: float | None = None,
    concurrency: int | None = None,
    duration_s: float = 10.0,
    warmup_s: float = WARMUP_S,
    tweets_per_request: int = 1,
    path: str = "/v1/score",
    label: str = "",
) -> LoadResult:
    """Drive POST `path` from a separate process: open loop at `rate` req/s, or closed loop with
    `concurrency` connections; payloads are sent in turn."""
    if (rate is None) == (concurrency is None):
        raise ValueError("give either rate (open loop) or concurrency (closed loop)")
    spec = {
        "url": url + path,
        "payloads": [payload.decode("utf-8") for payload in payloads],
        "rate": rate,
        "concurrency": concurrency,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        [sys.executable, "-m", "training.bench.api_load", "--client"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=duration_s + warmup_s + 120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load client failed: {completed.stderr.strip().splitlines()[-1:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    measured = json.loads(completed.stdout)
    latencies = sorted(measured["latencies_ms"])
    return LoadResult(
        label=label,
        tweets_per_request=tweets_per_request,
        target_rate=rate,
        concurrency=concurrency,
        duration_s=measured["elapsed_s"],
        requests=len(latencies),
        errors=measured["errors"],
        status_counts=measured["status_counts"],
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else float("nan"),
        achieved_rps=len(latencies) / measured["elapsed_s"] if measured["elapsed_s"] else 0.0,
        client_cpu_s=round(client_cpu_s, 2),
        send_late_p50_ms=percentile(sorted(measured["send_late_ms"]), 50),
    )


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def _drive(spec: dict) -> dict:
    """The client process: send the load, return latencies (ms), errors and status counts.

    aiohttp (C-accelerated HTTP parsing) rather than httpx: at 100 req/s httpx spent ~2.4 ms of
    client CPU a request, counted in every latency and taken from the server's two cores.
    """
    import aiohttp

    payloads = [payload.encode("utf-8") for payload in spec["payloads"]]
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    late: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution: too coarse here
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=30.0)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def send(index: int, scheduled: float, record: bool) -> None:
            nonlocal errors
            sent = clock()
            try:
                async with client.post(spec["url"], data=payloads[index % len(payloads)], headers=headers) as response:
                    await response.read()
                status = str(response.status)
                failed = response.status != 200
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status, failed = type(error).__name__, True
            if record:
                # From the scheduled time: a late send counts against the server (no coordinated omission).
                latencies.append((clock() - scheduled) * 1000)
                late.append((sent - scheduled) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                errors += failed

        async def open_loop(rate: float, seconds: float, record: bool, offset: int) -> float:
            start = clock()
            tasks = []
            for i in range(int(rate * seconds)):
                scheduled = start + i / rate
                while (delay := scheduled - clock()) > 0:  # uvloop's millisecond timers can wake early
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(offset + i, scheduled, record)))
            await asyncio.gather(*tasks)
            return clock() - start

        async def closed_loop(connections: int, seconds: float, record: bool) -> float:
            start = clock()
            stop = start + seconds
            counter = iter(range(10**9))

            async def worker() -> None:
                while clock() < stop:
                    await send(next(counter), clock(), record)

            await asyncio.gather(*(worker() for _ in range(connections)))
            return clock() - start

        if spec["rate"] is not None:
            await open_loop(spec["rate"], spec["warmup_s"], False, 0)
            elapsed = await open_loop(spec["rate"], spec["duration_s"], True, 10**6)
        else:
            await closed_loop(spec["concurrency"], spec["warmup_s"], False)
            elapsed = await closed_loop(spec["concurrency"], spec["duration_s"], True)
    return {
        "latencies_ms": latencies,
        "send_late_ms": late,
        "errors": errors,
        "status_counts": statuses,
        "elapsed_s": elapsed,
    }


def _client_main() -> int:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop  # uvicorn[standard] brings it; a faster client loop leaves more CPU to the server

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_drive(spec))
    json.dump(result, sys.stdout)
    return 0


# --- the benchmark -----------------------------------------------------------------------------


def request_bodies(texts: Sequence[str], tweets_per_request: int, count: int) -> list[bytes]:
    """`count` request bodies of `tweets_per_request` real tweets each (consecutive, wrapping)."""
    bodies = []
    for index in range(count):
        start = index * tweets_per_request
        tweets = [
            {"id": str(start + offset), "text": texts[(start + offset) % len(texts)]}
            for offset in range(tweets_per_request)
        ]
        bodies.append(json.dumps({"tweets": tweets}, ensure_ascii=False).encode("utf-8"))
    return bodies


def machine_note() -> str:
    load1, load5, _ = os.getloadavg()
    return f"load average {load1:.2f} (1 min), {load5:.2f} (5 min) at the start"


def run_api_benchmark(
    model_dir: str | Path,
    data_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    rates: Sequence[float] = DEFAULT_RATES,
    duration_s: float = 10.0,
    batch_size: int = 64,
    batch_concurrency: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict, str]:
    """Start the API on `model_dir` and measure it; returns (JSON-ready results, Markdown)."""
    from training.bench.machine import describe_machine, usable_cores
    from training.bench.run import benchmark_tweets
    from training.data import resolve_data_dir

    say = progress or (lambda message: None)
    workers = workers or usable_cores()
    batch_concurrency = batch_concurrency or 4 * workers
    texts = benchmark_tweets(resolve_data_dir(data_dir), 20_000)
    singles = request_bodies(texts, 1, 5_000)
    batches = request_bodies(texts, batch_size, 200)
    note = machine_note()
    runs: list[LoadResult] = []
    with running_server(model_dir, workers=workers) as server:
        for rate in rates:
            say(f"one tweet per request at {rate:g} req/s for {duration_s:g} s")
            runs.append(run_load(server.url, singles, rate=rate, duration_s=duration_s,
                                 label=f"1 tweet @ {rate:g} req/s"))
        say(f"{batch_size}-tweet batches, {batch_concurrency} connections, for {duration_s:g} s")
        runs.append(run_load(server.url, batches, concurrency=batch_concurrency, duration_s=duration_s,
                             tweets_per_request=batch_size,
                             label=f"{batch_size}-tweet batches, {batch_concurrency} connections"))
        server_log_errors = [line for line in server.log().splitlines() if " ERROR " in line]
    machine = describe_machine()
    results = {
        "machine": machine,
        "note": note,
        "model": str(model_dir),
        "workers": workers,
        "runs": [run.as_dict() for run in runs],
        "server_errors_logged": len(server_log_errors),
    }
    return results, markdown_table(results, runs)


def markdown_table(results: dict, runs: Sequence[LoadResult]) -> str:
    machine = results["machine"]
    lines = [
        f"# tweet-triage API load benchmark, {machine['date']}",
        "",
        f"Model {results['model']}, `triage serve --workers {results['workers']}` on loopback; load from a "
        f"separate process on the same machine ({machine['cores']} cores, {machine['cpu']}; {results['note']}).",
        "",
        "| load | requests | errors | p50 ms | p90 ms | p99 ms | max ms | req/s | tweets/s | client CPU | sent late p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        client_share = run.client_cpu_s / (run.duration_s + WARMUP_S) if run.duration_s else 0.0
        lines.append(
            f"| {run.label} | {run.requests:,} | {run.errors} | {run.p50_ms:.2f} | {run.p90_ms:.2f} | "
            f"{run.p99_ms:.2f} | {run.max_ms:.1f} | {run.achieved_rps:,.1f} | {run.tweets_per_second:,.0f} | "
            f"{client_share:.0%} of a core | {run.send_late_p50_ms:.2f} |"
        )
    lines += ["", "Latency is counted from each request's scheduled send time (open loop) or from its send "
              "(closed loop), so it includes how late the client's timer sent it (last column); errors are "
              "anything but a 200. The client is aiohttp in its own process."]
    if results["server_errors_logged"]:
        lines.append(f"The server logged {results['server_errors_logged']} error line(s).")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/default", help="model directory")
    parser.add_argument("--data-dir", help="data directory (default: $TRIAGE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--workers", type=int, help="uvicorn workers (default: one per core)")
    parser.add_argument("--rates", default=",".join(f"{rate:g}" for rate in DEFAULT_RATES),
                        help="one-tweet request rates, req/s, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (after a 2 s warm-up)")
    parser.add_argument("--batch-size", type=int, default=64, help="tweets per batch request")
    parser.add_argument("--batch-concurrency", type=int, help="connections for the batch run (default: 4 per worker)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)  # the load process
    args = parser.parse_args(argv)
    if args.client:
        return _client_main()
    results, markdown = run_api_benchmark(
        args.model,
        args.data_dir,
        workers=args.workers,
        rates=[float(rate) for rate in args.rates.split(",") if rate.strip()],
        duration_s=args.duration,
        batch_size=args.batch_size,
        batch_concurrency=args.batch_concurrency,
        progress=lambda message: print(f"api-load: {message}", file=sys.stderr),
    )
    print(markdown)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
