"""Scoring over forked worker processes: the same results as one process, streamed in order, and
nothing scored lost when the input goes bad half way (`model.parallel`, `triage score --workers`)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest

from model.parallel import ParallelScorer
from model.records import RecordError
from training.cli import main

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
TEXTS = [
    "@Delta my bag never arrived, where is it?",
    "thanks, sorted now! 😍",
    "do you ship to Canada?",
    "my card 4111 1111 1111 1111 was charged twice",
]


def _records(count: int, start: int = 0) -> list[dict]:
    return [{"id": str(i), "text": TEXTS[i % len(TEXTS)]} for i in range(start, start + count)]


def _chunks(records: list[dict], size: int) -> list[list[dict]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


@pytest.mark.parametrize("workers", [1, 2])
def test_chunks_come_back_in_order_with_the_results_of_one_process(tiny_model, workers) -> None:
    records = _records(70)
    expected = tiny_model.score(records, now=NOW)
    with ParallelScorer(tiny_model, workers=workers, chunk_size=8) as scorer:
        parts = list(scorer.score_chunks(_chunks(records, 8), now=NOW))
        whole = scorer.score(records, now=NOW)
    assert [len(part) for part in parts] == [8] * 8 + [6]
    assert [result for part in parts for result in part] == expected
    assert whole == expected


def test_the_input_is_read_only_as_workers_need_it(tiny_model) -> None:
    pulled = []

    def stream():
        for number, chunk in enumerate(_chunks(_records(200), 5)):
            pulled.append(number)
            yield chunk

    with ParallelScorer(tiny_model, workers=2, chunk_size=5) as scorer:
        results = scorer.score_chunks(stream(), now=NOW)
        first = next(results)
        assert [r["id"] for r in first] == ["0", "1", "2", "3", "4"]
        assert len(pulled) == 5  # two chunks a worker in flight, plus the one just yielded
        results.close()  # stopping early cancels the rest; the stream is not read further
    assert len(pulled) == 5


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_record_is_raised_after_every_earlier_result(tiny_model, workers) -> None:
    chunks = _chunks(_records(30), 6)
    chunks.append([{"id": "bad", "text": ""}])
    chunks.append(_records(6, start=100))
    got = []
    with ParallelScorer(tiny_model, workers=workers, chunk_size=6) as scorer:
        with pytest.raises(RecordError, match="`text` is empty"):
            for part in scorer.score_chunks(chunks, now=NOW):
                got.extend(part)
    assert [r["id"] for r in got] == [str(i) for i in range(30)]


def test_cli_streams_many_chunks_over_two_workers_and_skips_bad_lines(tiny_model_dir, tmp_path, capsys) -> None:
    records = _records(700)
    lines = [json.dumps(record) for record in records]
    lines.insert(300, "{not json")
    source, target, single = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "one.jsonl"
    source.write_text("\n".join(lines) + "\n")
    common = ["score", "--model", str(tiny_model_dir), "--input", str(source), "--now", "2026-11-23T10:00:00Z", "--on-error", "skip"]
    assert main([*common, "--output", str(target), "--workers", "2"]) == 0
    assert "skipped line 301:" in capsys.readouterr().err
    assert main([*common, "--output", str(single), "--workers", "1"]) == 0
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == [r["id"] for r in records]
    assert target.read_bytes() == single.read_bytes()


def test_cli_fail_writes_the_lines_before_a_bad_one_to_stdout(tiny_model_dir, tmp_path, capsys) -> None:
    lines = [json.dumps(record) for record in _records(600)]
    lines.insert(555, json.dumps({"id": "x"}))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    code = main(["score", "--model", str(tiny_model_dir), "--input", str(source), "--output", "-", "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("triage: error: line 556: `text` is missing")
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == [str(i) for i in range(555)]


def test_an_interrupted_run_leaves_the_output_file_as_it_was(tiny_model_dir, tmp_path, monkeypatch, capsys) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in _records(600)) + "\n")
    target.write_text("yesterday's results\n")

    def interrupted(self, chunks, **options):
        yield self.model.score(next(iter(chunks)), **options)
        raise KeyboardInterrupt

    monkeypatch.setattr(ParallelScorer, "score_chunks", interrupted)
    code = main(["score", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(target), "--workers", "2"])
    assert code == 130 and capsys.readouterr().err.strip() == "triage: error: interrupted"
    assert target.read_text() == "yesterday's results\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no partial file left


def _die(chunk, now, locale):
    os._exit(3)  # what the kernel's OOM killer does to a worker, as far as the parent can tell


def test_a_worker_that_dies_is_one_line_and_leaves_no_output(tiny_model_dir, tmp_path, monkeypatch, capsys) -> None:
    import model.parallel

    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in _records(600)) + "\n")
    monkeypatch.setattr(model.parallel, "_score_chunk", _die)  # the workers are forked after this
    code = main(["score", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(target), "--workers", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[0].startswith("triage: error: a scoring worker process died") and "Traceback" not in "".join(err)
    assert not target.exists()
