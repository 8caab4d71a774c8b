"""`triage bench`: measure our models in one process run and print a Markdown table + JSON.

Sections:
- speed: the whole scoring pipeline (output contract) on real tweets from care/train, in batches
  on one process and on every core, and one tweet at a time; load time and memory; the training
  time each model's manifest recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from training.bench.machine import describe_machine, usable_cores
from training.bench.speed import measure_speed, triage_scorer

Progress = Callable[[str], None]


def benchmark_tweets(data_dir: Path, count: int) -> list[str]:
    """`count` real customer tweets (care/train, repeated if needed)."""
    from training.data import load_care

    texts = list(load_care("train", data_dir=data_dir)["text"])
    return (texts * (count // len(texts) + 1))[:count]


def run_speed(model_dirs: Sequence[str], texts: list[str], *, rounds: int, progress: Progress) -> dict:
    cores = usable_cores()
    scorers = []
    for model_dir in model_dirs:
        progress(f"loading {model_dir}")
        scorers.append(triage_scorer(model_dir))
        if cores > 1:
            scorers.append(triage_scorer(model_dir, workers=cores))
    try:
        results = measure_speed(scorers, texts, rounds=rounds, progress=progress)
    finally:
        for scorer in scorers:
            scorer.close()
    section = {"tweets": len(texts), "rounds": rounds, "scorers": {}}
    for result in results:
        section["scorers"][result.name] = result.as_dict()
    for model_dir in model_dirs:
        manifest = json.loads((Path(model_dir) / "manifest.json").read_text())
        section.setdefault("training_seconds", {})[model_dir] = manifest.get("training_seconds")
    return section


def speed_table(section: dict) -> str:
    lines = [
        "| scorer | tweets/s (batches) | one tweet p50 ms | p99 ms | load s | memory MiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in section["scorers"].items():
        lines.append(
            f"| {name} | {values['tweets_per_second']:,.0f} | {values['single_p50_ms']:.2f} | "
            f"{values['single_p99_ms']:.2f} | {values['load_seconds']:.2f} | {values['rss_mb']:.0f} |"
        )
    lines.append("")
    for model_dir, seconds in section.get("training_seconds", {}).items():
        lines.append(f"Training time of {model_dir} (from its manifest): {seconds} s.")
    return "\n".join(lines)


def run_benchmark(
    model_dirs: Sequence[str],
    data_dir: Path,
    *,
    tweets: int = 10_000,
    rounds: int = 3,
    progress: Progress | None = None,
) -> tuple[dict, str]:
    """Run every section; return (JSON-ready results, Markdown report)."""
    say = progress or (lambda message: None)
    machine = describe_machine()
    texts = benchmark_tweets(data_dir, tweets)
    speed = run_speed(model_dirs, texts, rounds=rounds, progress=say)
    results = {"machine": machine, "speed": speed}
    markdown = "\n".join(
        [
            f"# tweet-triage benchmark, {machine['date']}",
            "",
            f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory_gib']} GiB; "
            f"Python {machine['versions']['python']}, scikit-learn {machine['versions'].get('scikit-learn')}.",
            "",
            f"## Speed: the whole pipeline (output contract) on {len(texts):,} real tweets",
            "",
            speed_table(speed),
            "",
        ]
    )
    return results, markdown
