"""The `triage` command line: train, evaluate, score, bench, serve.

Errors are one line on stderr (`triage: error: ...`) with a non-zero exit status; progress goes to
stderr too, so that stdout carries only results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Iterator, Sequence

class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _print_error(message: str) -> None:
    print(f"triage: error: {message}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + error; we keep it to one line
        self.exit(2, f"triage: error: {message} (see `triage --help`)\n")


# -- train ---------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.evaluate import format_table
    from training.train import print_progress, train

    config = load_config(args.config, args.set or ())
    feedback = None
    if args.with_feedback:
        from training.feedback import load_feedback

        feedback = load_feedback(args.with_feedback, weight=args.feedback_weight)
        print_progress(f"feedback: {feedback.corrections} correction(s) of {len(feedback.tweets)} tweet(s) "
                       f"from {feedback.source}")
    path = train(config, args.output, force=args.force, data_dir=args.data_dir, progress=print_progress,
                 feedback=feedback)
    manifest = json.loads((path / "manifest.json").read_text())
    print(format_table(_nested_metrics(path)))
    if feedback is not None:
        used = feedback.used
        print(f"\nfeedback: used {feedback.corrections} correction(s) of {len(feedback.tweets)} tweet(s) "
              f"({used['overrides']} overriding care labels, {used['added']} new tweets, "
              f"{used['left_out_care_val']} left out: in care/val; {feedback.skipped} unreadable), "
              f"weight {feedback.weight:g}")
    print(f"\nmodel {manifest['model_version']} in {path} (fitting {manifest['training_seconds']} s)")
    return 0


def _nested_metrics(model_dir: Path) -> dict:
    return json.loads((model_dir / "metrics.json").read_text())


# -- evaluate ------------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from model import load_model
    from training.data import resolve_data_dir
    from training.evaluate import SUITES, evaluate_model, format_table, headline
    from training.train import print_progress

    model = load_model(args.model)
    suites = tuple(args.suite) if args.suite else SUITES
    evaluation = evaluate_model(model, resolve_data_dir(args.data_dir), suites=suites, progress=print_progress)
    if args.json:
        json.dump(
            {"model_version": model.version, "headline": headline(evaluation.metrics), "metrics": evaluation.metrics},
            sys.stdout,
            indent=2,
            sort_keys=True,
        )
        sys.stdout.write("\n")
    else:
        print(f"model {model.version} ({args.model})")
        print(format_table(evaluation.metrics))
    return 0


# -- score ---------------------------------------------------------------------------------------
def _numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, start=1):
        yield number, line


def _parse_line(number: int, raw: bytes):
    """Return a validated record or raise CliError naming the line (never quoting its text)."""
    from model.records import RecordError, parse_record

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"line {number}: not valid UTF-8") from None
    if not text.strip():
        raise CliError(f"line {number}: empty line, expected a JSON object")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"line {number}: not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise CliError(f"line {number}: JSON nested too deeply") from None
    try:
        return parse_record(value)
    except RecordError as error:
        raise CliError(f"line {number}: {error}") from None


def _open_output(path: str) -> tuple[IO[str], Path | None]:
    """stdout for `-`; otherwise a temporary file beside the target, renamed when complete."""
    if path == "-":
        return sys.stdout, None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", suffix=".partial", delete=False
    )
    return handle, Path(handle.name)


def cmd_score(args: argparse.Namespace) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from tqdm import tqdm

    from model import load_model
    from model.parallel import ParallelScorer

    model = load_model(args.model, policy=_load_policy(args.policy))
    scorer = ParallelScorer(model, workers=args.workers or None)
    now = _parse_now(args.now)
    source = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    output, partial = _open_output(args.output)
    reader = _RecordReader(source, args.on_error)
    scored = 0
    failed = completed = False
    progress = tqdm(desc="scoring", unit=" tweets", file=sys.stderr, disable=None, mininterval=1.0)
    try:
        # Workers score the next chunks while this process reads input and writes results.
        for results in scorer.score_chunks(reader.chunks(scorer.chunk_size), now=now, locale=args.locale):
            output.write("".join(json.dumps(result, ensure_ascii=False) + "\n" for result in results))
            scored += len(results)
            progress.update(len(results))
        completed = True
    except CliError as error:  # a bad line with --on-error fail: the lines before it are written
        _print_error(f"{error} (use --on-error skip to score the other lines)")
        failed = True
    except BrokenProcessPool:
        _print_error(f"a scoring worker process died (killed, or out of memory?) after {scored} tweet(s); "
                     "try fewer --workers")
        failed = True
    finally:
        progress.close()
        scorer.close()
        if source is not sys.stdin.buffer:
            source.close()
        if partial is not None:
            output.close()
            # Only a finished run replaces the output file; an interrupted one leaves it as it was.
            if completed:
                os.replace(partial, args.output)
            else:
                partial.unlink(missing_ok=True)
        else:
            output.flush()
    if failed:
        if partial is not None:
            print(f"triage: nothing written to {args.output}", file=sys.stderr)
        return 1
    print(f"triage: scored {scored} tweet(s), skipped {reader.skipped} bad line(s)", file=sys.stderr)
    return 0


class _RecordReader:
    """Validated records from a JSON Lines input, chunk by chunk, counting the lines it skips.

    A bad line raises `CliError` (after the chunk of records before it) with `on_error` "fail";
    with "skip" it is reported on stderr, counted and left out."""

    def __init__(self, source: IO[bytes], on_error: str):
        self.source = source
        self.on_error = on_error
        self.skipped = 0

    def chunks(self, size: int) -> Iterator[list]:
        chunk: list = []
        for number, raw in _numbered_lines(self.source):
            try:
                chunk.append(_parse_line(number, raw))
            except CliError as error:
                if self.on_error == "fail":
                    if chunk:
                        yield chunk
                    raise
                self.skipped += 1
                print(f"triage: skipped {error}", file=sys.stderr)
                continue
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    from model.records import RecordError, parse_timestamp

    try:
        return parse_timestamp(value, "--now")
    except RecordError as error:
        raise CliError(str(error)) from None


def _load_policy(path: str | None):
    if path is None:
        return None
    from model.priority import load_policy

    return load_policy(path)


# -- bench ---------------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from training.bench.run import SECTIONS, discover_models, run_benchmark
    from training.bench.speed import model_spec
    from training.data import resolve_data_dir
    from training.train import print_progress

    models = args.model or discover_models()
    if not models:
        raise CliError("no model under models/: train one first (make model)")
    for model_dir in models:
        if not (Path(model_spec(model_dir)[0]) / "manifest.json").is_file():
            raise CliError(f"no model at {model_dir}: train it first (make model)")
    sections = tuple(args.only) if args.only else tuple(section for section in SECTIONS if section not in (args.skip or []))
    results, markdown = run_benchmark(
        models,
        resolve_data_dir(args.data_dir),
        tweets=args.tweets,
        rounds=args.rounds,
        sections=sections,
        encoder=not args.no_encoder,
        progress=print_progress,
    )
    print(markdown)
    if args.readme:
        from training.bench.readme import ReadmeError, write_into_readme

        try:
            write_into_readme(Path(args.readme), markdown)
        except (OSError, ReadmeError) as error:
            raise CliError(f"cannot update {args.readme}: {error}") from None
        print(f"triage: results section of {args.readme} updated", file=sys.stderr)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"triage: results written to {args.json}", file=sys.stderr)
    return 0


# -- serve ---------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    # The CLI is the composition root: this lazy import is the one allowed training -> serving
    # reference (DESIGN.md: imports flow training -> model <- serving).
    from serving.server import serve
    from serving.settings import SettingsError

    try:
        return serve(model=args.model, host=args.host, port=args.port, workers=args.workers, policy=args.policy)
    except SettingsError as error:
        raise CliError(str(error)) from None


# -- demo ----------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    import random

    from training.data import load_care

    # The CLI is the composition root: it reads the data (training) and starts the service (serving).
    from serving.demo import run_demo

    if not (Path(args.model) / "manifest.json").is_file():
        raise CliError(f"no model at {args.model}: train it first (make model)")
    if not 1 <= args.tweets <= 5000:
        raise CliError("--tweets must be between 1 and 5000")
    rows = load_care("train", data_dir=args.data_dir)
    picked = sorted(random.Random(args.seed).sample(range(len(rows)), min(args.tweets, len(rows))))
    records = [{"id": rows[index]["id"], "text": rows[index]["text"], "lang": "en"} for index in picked]
    run_demo(records, model_dir=Path(args.model), state_dir=Path(args.state_dir), host=args.host, port=args.port,
             trickle_s=0.0 if args.load_only else args.trickle, serve=not args.load_only)
    return 0


# -- entry point ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="triage", description="Triage customer-care tweets: train, evaluate and score models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model from a recipe")
    train.add_argument("--config", default="training/configs/default.toml", help="recipe (TOML)")
    train.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a recipe key (repeatable)")
    train.add_argument("--output", default="models/default", help="model directory to write")
    train.add_argument("--data-dir", help="data directory (default: $TRIAGE_DATA_DIR, else ../shared/data)")
    train.add_argument("--force", action="store_true", help="replace an existing model directory")
    train.add_argument("--with-feedback", metavar="DB_URL", help="merge agents' corrections from the inbox store (database URL, or a file from GET /v1/feedback/export)")
    train.add_argument("--feedback-weight", type=float, default=3.0, help="weight of a corrected tweet (default 3)")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a model on care/val, TweetEval test and complaints/test")
    evaluate.add_argument("--model", default="models/default", help="model directory")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.add_argument("--data-dir", help="data directory (default: $TRIAGE_DATA_DIR, else ../shared/data)")
    evaluate.add_argument("--suite", action="append", choices=["care_val", "tweeteval_val", "tweeteval_test", "complaints_test"], help="run only these suites (repeatable)")
    evaluate.set_defaults(handler=cmd_evaluate)

    score = commands.add_parser("score", help="score a JSON Lines file of tweets")
    score.add_argument("--model", default="models/default", help="model directory")
    score.add_argument("--input", required=True, help="input JSON Lines, `-` for stdin")
    score.add_argument("--output", required=True, help="output JSON Lines, `-` for stdout")
    score.add_argument("--on-error", choices=["fail", "skip"], default="fail", help="stop at a bad line (default) or report and skip it")
    score.add_argument("--locale", default="en", help="language of badge texts and reasons (en, it)")
    score.add_argument("--policy", help="priority policy TOML (default: the shipped policy)")
    score.add_argument("--now", help="ISO 8601 time to compute waits and respond-by from (default: now)")
    score.add_argument("--workers", type=int, default=0, help="scoring processes (default 0: one per core)")
    score.set_defaults(handler=cmd_score)
    bench = commands.add_parser("bench", help="compare models and peers (VADER, keywords, MiniLM): quality, speed, memory, API")
    bench.add_argument("--model", action="append", help="model directory, or DIR@torch for a transformer model on fp32 torch (repeatable; default: every model under models/)")
    bench.add_argument("--tweets", type=int, default=10_000, help="real tweets to score per round")
    bench.add_argument("--rounds", type=int, default=3, help="throughput rounds (the best counts)")
    bench.add_argument("--only", action="append", choices=["quality", "speed", "memory", "api"], help="run only these sections")
    bench.add_argument("--skip", action="append", choices=["quality", "speed", "memory", "api"], help="leave these sections out")
    bench.add_argument("--no-encoder", action="store_true", help="leave the raw MiniLM encoder out of speed and memory")
    bench.add_argument("--json", help="also write every figure to this JSON file")
    bench.add_argument("--readme", help="also write the report into this README's benchmark block")
    bench.add_argument("--data-dir", help="data directory (default: $TRIAGE_DATA_DIR, else ../shared/data)")
    bench.set_defaults(handler=cmd_bench)

    serve = commands.add_parser("serve", help="run the scoring API (settings: TRIAGE_* variables, see README)")
    serve.add_argument("--model", help="model directory (default: $TRIAGE_MODEL_DIR, else models/default)")
    serve.add_argument("--host", help="interface to bind (default: $TRIAGE_HOST, else 127.0.0.1; others need API keys)")
    serve.add_argument("--port", type=int, help="port (default: $TRIAGE_PORT, else 8000)")
    serve.add_argument("--workers", type=int, help="uvicorn worker processes (default: $TRIAGE_WORKERS, else 1)")
    serve.add_argument("--policy", help="priority policy TOML (default: $TRIAGE_POLICY, else the shipped policy)")
    serve.set_defaults(handler=cmd_serve)

    demo = commands.add_parser("demo", help="load a few hundred real tweets into a fresh inbox and serve its page")
    demo.add_argument("--model", default="models/default", help="model directory")
    demo.add_argument("--tweets", type=int, default=300, help="tweets to load (from care/train)")
    demo.add_argument("--state-dir", default="var/demo", help="directory of the demo inbox (its SQLite file is replaced)")
    demo.add_argument("--host", default="127.0.0.1", help="interface (loopback: the demo has no API keys)")
    demo.add_argument("--port", type=int, default=8000, help="port")
    demo.add_argument("--trickle", type=float, default=20.0, help="hold back 10%% of the tweets and push one every N seconds (0: all at once)")
    demo.add_argument("--seed", type=int, default=7, help="which tweets (and their times) are drawn")
    demo.add_argument("--load-only", action="store_true", help="load the inbox, print the address and exit")
    demo.add_argument("--data-dir", help="data directory (default: $TRIAGE_DATA_DIR, else ../shared/data)")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `triage` console script."""
    args = build_parser().parse_args(argv)
    from model.artifact import ArtifactError
    from model.priority import PolicyError
    from training.config import ConfigError
    from training.data import DataError
    from training.feedback import FeedbackSourceError
    from training.train import TrainingError

    try:
        return args.handler(args)
    except (CliError, ConfigError, ArtifactError, DataError, TrainingError, PolicyError, FeedbackSourceError) as error:
        _print_error(str(error))
        return 2
    except FileNotFoundError as error:
        _print_error(f"no such file: {error.filename}")
        return 2
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
