"""The `triage` command line: score with good and bad lines, one-line errors, train/evaluate wiring."""

from __future__ import annotations

import io
import json
import sys

import pytest

from training.cli import main

GOOD = [
    {"id": "a", "text": "@Delta my bag never arrived, where is it?"},
    {"id": "b", "text": "thanks, sorted now! 😍", "created_at": "2026-11-23T09:00:00Z"},
    {"id": "c", "text": "do you ship to Canada?", "context": [{"author": "brand", "text": "Hi! How can we help?"}]},
]


def _lines(*records) -> bytes:
    out = []
    for record in records:
        out.append(record if isinstance(record, bytes) else json.dumps(record).encode())
    return b"\n".join(out) + b"\n"


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_score_writes_one_result_per_line_in_order(tiny_model_dir, tmp_path, capsys) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(_lines(*GOOD))
    code, out, err = _run(capsys, "score", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(target), "--now", "2026-11-23T10:00:00Z")
    assert code == 0
    results = [json.loads(line) for line in target.read_text().splitlines()]
    assert [result["id"] for result in results] == ["a", "b", "c"]
    assert all("priority" in result and "intent" in result for result in results)
    assert "scored 3 tweet(s), skipped 0" in err


BAD_LINES = [
    (b"{not json", "not valid JSON"),
    (json.dumps({"id": "x"}).encode(), "`text` is missing"),
    (json.dumps({"id": "x", "text": ""}).encode(), "`text` is empty"),
    (b'{"id": "x", "text": "a\\ud800b"}', "lone surrogate"),
    (b'{"id": "x", "text": "a\\u0000b"}', "NUL"),
    (b"\xff\xfe not utf-8", "not valid UTF-8"),
    (b"[1, 2]", "must be a JSON object"),
    (json.dumps({"id": "x", "text": "hi", "mood": "sad"}).encode(), "unknown field"),
    (json.dumps({"id": "x", "text": "hi", "created_at": "yesterday"}).encode(), "ISO 8601"),
    (b"", "empty line"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_bad_line_fails_with_its_line_number(tiny_model_dir, tmp_path, capsys, bad, message) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(_lines(GOOD[0], bad, GOOD[1]))
    code, _, err = _run(capsys, "score", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(target))
    assert code == 1
    first_error = err.strip().splitlines()[0]
    assert first_error.startswith("triage: error: line 2: ") and message in first_error
    assert not target.exists()  # an incomplete output is never left behind
    assert "a\ud800b" not in err and "sad" not in err  # errors never quote the tweet


def test_skip_reports_and_counts_every_bad_line(tiny_model_dir, tmp_path, capsys) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(_lines(GOOD[0], b"{not json", GOOD[1], json.dumps({"id": "y", "text": " "}).encode(), GOOD[2]))
    code, _, err = _run(capsys, "score", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(target), "--on-error", "skip")
    assert code == 0
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == ["a", "b", "c"]
    assert "skipped line 2:" in err and "skipped line 4:" in err
    assert "scored 3 tweet(s), skipped 2 bad line(s)" in err


def test_score_reads_stdin_and_writes_stdout(tiny_model_dir, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(_lines(*GOOD))))
    code, out, _ = _run(capsys, "score", "--model", str(tiny_model_dir), "--input", "-", "--output", "-")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a", "b", "c"]


def test_user_errors_are_one_line(tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "score", "--model", str(tmp_path / "missing"), "--input", "-", "--output", "-")
    assert code == 2 and err.count("\n") == 1 and err.startswith("triage: error: no model directory")
    code, _, err = _run(capsys, "train", "--config", "training/configs/default.toml", "--set", "heads.nope=1", "--output", str(tmp_path / "m"))
    assert code == 2 and "names a key the recipe does not have" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--bogus"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_evaluate_prints_a_table_and_json(tiny_model_dir, capsys) -> None:
    code, out, _ = _run(capsys, "evaluate", "--model", str(tiny_model_dir), "--suite", "complaints_test")
    assert code == 0 and "complaints_test.complaint.f1" in out
    code, out, _ = _run(capsys, "evaluate", "--model", str(tiny_model_dir), "--json", "--suite", "complaints_test")
    payload = json.loads(out)
    assert payload["headline"]["complaints_test.complaint.f1"] >= 0
