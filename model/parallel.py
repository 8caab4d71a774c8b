"""Scoring large batches on every core: worker processes forked from a loaded model.

Featurisation is pure Python (the GIL serialises threads), so more cores need more processes.
Workers are forked after the model is loaded: they share its memory copy-on-write and start in
milliseconds, without loading or verifying the artifact again. Records are validated in the
parent first, so a bad record fails the whole call before any work is sent out, exactly as
`TriageModel.score` does.

Three things keep the parent from being the bottleneck (measured in the README, "Two processes"):
- the heap is settled (`model.heap.settle_heap`: collected, then frozen) before forking. Unpickling
  a chunk's results allocates thousands of dicts, which set off full collections that walked the
  whole loaded model: about 100 us a result instead of 10;
- chunks are small (256 tweets), so the parent unpickles one chunk's results while the workers
  score the next ones;
- `score_chunks` keeps the workers fed from a stream: while they score, the caller reads the next
  input and writes the previous results (what `triage score` does), instead of the workers
  waiting for each batch to be read and written.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

from model.heap import settle_heap
from model.records import TweetRecord, parse_record

_WORKER_MODEL = None  # set in the parent just before forking; inherited by every worker


def _score_chunk(chunk: list[TweetRecord], now: datetime, locale: str) -> list[dict[str, Any]]:
    return _WORKER_MODEL.score(chunk, now=now, locale=locale)


def default_workers() -> int:
    """One worker per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class ParallelScorer:
    """`score` like `TriageModel.score`, split in chunks over `workers` forked processes."""

    def __init__(self, model, workers: int | None = None, chunk_size: int = 256):
        self.model = model
        self.workers = workers or default_workers()
        self.chunk_size = chunk_size
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            global _WORKER_MODEL
            _WORKER_MODEL = self.model
            # The Rust tokenizer warns (and may deadlock) when its thread pool is forked while in use.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            settle_heap()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        return self._pool

    def score(
        self,
        records: Iterable[dict[str, Any] | TweetRecord],
        *,
        now: datetime | None = None,
        locale: str = "en",
    ) -> list[dict[str, Any]]:
        """Every record's result, in order; a bad record fails the call before any is scored."""
        parsed = [parse_record(record) for record in records]
        now = now or datetime.now(timezone.utc)
        if self.workers == 1 or len(parsed) <= self.chunk_size:
            return self.model.score(parsed, now=now, locale=locale)
        chunks = (parsed[start : start + self.chunk_size] for start in range(0, len(parsed), self.chunk_size))
        return [result for part in self.score_chunks(chunks, now=now, locale=locale) for result in part]

    def score_chunks(
        self,
        chunks: Iterable[Sequence[dict[str, Any] | TweetRecord]],
        *,
        now: datetime | None = None,
        locale: str = "en",
    ) -> Iterator[list[dict[str, Any]]]:
        """Each chunk's results, in order, while later chunks are being scored.

        Chunks are read from `chunks` only as workers need them (two per worker, plus the one
        whose results are awaited, are in flight), so a stream of any length is scored in bounded
        memory. An error while reading a chunk (a bad record raises `RecordError`, and so may the
        caller's iterator) is raised after the results of every chunk before it have been yielded:
        nothing scored is lost. Closing the generator early cancels the chunks not yet started.
        Without `now`, each chunk is scored as of the moment it is read (a long stream's respond-by
        times stay current).
        """
        if self.workers == 1:
            for chunk in chunks:  # `TriageModel.score` validates the records itself
                yield self.model.score(chunk, now=now or datetime.now(timezone.utc), locale=locale)
            return
        pool = self._executor()
        in_flight: deque = deque()
        unread = iter(chunks)
        try:
            while True:
                try:
                    chunk = next(unread, None)
                    if chunk is None:
                        break
                    parsed = [parse_record(record) for record in chunk]
                except Exception:
                    while in_flight:
                        yield in_flight.popleft().result()
                    raise
                in_flight.append(pool.submit(_score_chunk, parsed, now or datetime.now(timezone.utc), locale))
                if len(in_flight) > 2 * self.workers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            for future in in_flight:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> ParallelScorer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
