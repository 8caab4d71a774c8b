"""`triage bench`: our models against the peers, quality and speed, in one process run.

Sections:
- quality: every model given (default: every directory under models/ with a manifest) and the
  peers (VADER, a keyword baseline) on care/val, TweetEval sentiment test and complaints/test;
- speed: the whole scoring pipeline of each model (output contract) on real tweets, in batches on
  one process and on every core, and one tweet at a time; VADER, the keyword baseline and the raw
  MiniLM encoder beside them, interleaved round by round; ratios to VADER;
- memory: peak RSS of a fresh process that loads each scorer and scores a batch;
- api (when asked): a real uvicorn on loopback driven at fixed rates from a second process.
Output: a Markdown report (stdout) and, with `--json`, every figure plus the machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from training.bench.machine import describe_machine, usable_cores
from training.bench.peers import KeywordPeer, VaderPeer
from training.bench.quality import EvaluationData, model_quality, peer_quality, quality_table
from model.transformer import TORCH_WEIGHTS_FILE
from training.bench.speed import (
    TRANSFORMER_TWEETS,
    keyword_scorer,
    model_spec,
    measure_speed,
    minilm_encoder_scorer,
    peak_rss_mb,
    triage_scorer,
    vader_scorer,
)

Progress = Callable[[str], None]
SECTIONS = ("quality", "speed", "memory", "api")


def discover_models(root: Path = Path("models")) -> list[str]:
    """Every model directory under `root` (one with a manifest), default first; a transformer
    artifact that also stores its fp32 torch weights is listed twice, `DIR` (its ONNX int8 runtime)
    and `DIR@torch`."""
    found = sorted(str(path.parent) for path in root.glob("*/manifest.json"))
    default = str(root / "default")
    ordered = ([default] if default in found else []) + [path for path in found if path != default]
    specs = []
    for directory in ordered:
        specs.append(directory)
        backend = _manifest(directory).get("backend") or {}
        if backend.get("kind") == "transformer" and backend.get("runtime") == "onnx" and TORCH_WEIGHTS_FILE in backend.get("encoder_files", []):
            specs.append(f"{directory}@torch")
    return specs


def _manifest(model_spec_text: str) -> dict:
    directory, _ = model_spec(model_spec_text)
    return json.loads((Path(directory) / "manifest.json").read_text(encoding="utf-8"))


def _is_linear(model_spec_text: str) -> bool:
    return (_manifest(model_spec_text).get("backend") or {}).get("kind") == "linear"


def benchmark_tweets(data_dir: Path, count: int) -> list[str]:
    """`count` real customer tweets (care/train, repeated if needed)."""
    from training.data import load_care

    texts = list(load_care("train", data_dir=data_dir)["text"])
    return (texts * (count // len(texts) + 1))[:count]


def run_quality(model_dirs: Sequence[str], data_dir: Path, progress: Progress) -> dict:
    columns = {model_dir: model_quality(model_dir, data_dir, progress) for model_dir in model_dirs}
    data = EvaluationData(data_dir)
    for peer in (VaderPeer(), KeywordPeer()):
        columns[peer.name] = peer_quality(peer, data, progress)
    return columns


def run_speed(model_dirs: Sequence[str], texts: list[str], *, rounds: int, encoder: bool, progress: Progress) -> dict:
    cores = usable_cores()
    scorers = []
    for model_dir in model_dirs:
        progress(f"loading {model_dir}")
        if _is_linear(model_dir):
            scorers.append(triage_scorer(model_dir))
            if cores > 1:
                scorers.append(triage_scorer(model_dir, workers=cores))
        else:  # ONNX Runtime and torch already spread one batch over every core
            scorers.append(triage_scorer(model_dir, max_tweets=TRANSFORMER_TWEETS))
    scorers += [vader_scorer(), keyword_scorer()]
    if encoder:
        progress("loading the raw MiniLM encoder")
        scorers.append(minilm_encoder_scorer())
    try:
        results = measure_speed(scorers, texts, rounds=rounds, progress=progress)
    finally:
        for scorer in scorers:
            scorer.close()
    vader = next(result for result in results if result.name == "VADER")
    section = {"tweets": len(texts), "rounds": rounds, "cores": cores, "scorers": {}, "training_seconds": {}}
    for result in results:
        values = result.as_dict()
        values["throughput_vs_vader"] = round(result.tweets_per_second / vader.tweets_per_second, 2)
        values["p50_vs_vader"] = round(result.p50_ms / vader.p50_ms, 2)
        values["throughput_rounds"] = result.rounds
        section["scorers"][result.name] = values
    for model_dir in model_dirs:
        section["training_seconds"][model_dir] = _training_time(_manifest(model_dir))
    return section


def speed_table(section: dict) -> str:
    lines = [
        "| scorer | tweets/s (batches) | x VADER | one tweet p50 ms | p99 ms | p50 x VADER |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in section["scorers"].items():
        lines.append(
            f"| {name} | {values['tweets_per_second']:,.0f} | {values['throughput_vs_vader']:.2f} | "
            f"{values['single_p50_ms']:.2f} | {values['single_p99_ms']:.2f} | {values['p50_vs_vader']:.1f} |"
        )
    lines.append("")
    for model_dir, seconds in section["training_seconds"].items():
        lines.append(f"- training time of {model_dir} (its manifest): {seconds}")
    return "\n".join(lines)


def _training_time(manifest: dict) -> str:
    """The manifest's training time, with the device fine-tuning ran on when it was not the CPU."""
    seconds = manifest.get("training_seconds")
    info = (manifest.get("backend") or {}).get("finetuning") or {}
    device = info.get("device", "cpu")
    text = f"{seconds} s" if seconds is not None else "unknown"
    return text if device == "cpu" else f"{text} (fine-tuning on {device}: {info.get('seconds')} s)"


def run_memory(model_dirs: Sequence[str], encoder: bool, progress: Progress) -> dict[str, float]:
    """Peak RSS of a fresh interpreter per scorer: what each costs to host on its own."""
    sample = "['@brand my order never arrived, where is it?'] * 256"
    probes = {
        model_dir: f"from model import load_model\nm = load_model(*{model_spec(model_dir)[:1]!r}, runtime={model_spec(model_dir)[1]!r})\n"
        f"m.score([{{'id': str(i), 'text': t}} for i, t in enumerate({sample})])"
        for model_dir in model_dirs
    }
    probes["VADER"] = f"from training.bench.peers import VaderPeer\nVaderPeer().sentiment({sample})"
    probes["keywords"] = f"from training.bench.peers import KeywordPeer\nKeywordPeer().intent({sample})"
    if encoder:
        probes["MiniLM encoder (torch fp32)"] = (
            "from training.bench.speed import minilm_encoder_scorer\n"
            f"minilm_encoder_scorer().batch(({sample})[:64])"
        )
    memory = {}
    for name, code in probes.items():
        progress(f"peak memory of {name}")
        memory[name] = round(peak_rss_mb(code), 1)
    return memory


def memory_table(memory: dict[str, float]) -> str:
    lines = ["| scorer | peak RSS MiB (fresh process, loaded + 256 tweets scored) |", "|---|---|"]
    lines += [f"| {name} | {value:,.0f} |" for name, value in memory.items()]
    return "\n".join(lines)


def run_benchmark(
    model_dirs: Sequence[str],
    data_dir: Path,
    *,
    tweets: int = 10_000,
    rounds: int = 3,
    sections: Sequence[str] = ("quality", "speed", "memory"),
    encoder: bool = True,
    progress: Progress | None = None,
) -> tuple[dict, str]:
    """Run the chosen sections; return (JSON-ready results, Markdown report)."""
    say = progress or (lambda message: None)
    machine = describe_machine()
    results: dict = {"machine": machine, "models": list(model_dirs)}
    parts = [
        f"# tweet-triage benchmark, {machine['date']}",
        "",
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory_gib']} GiB RAM; "
        f"Python {machine['versions']['python']}, scikit-learn {machine['versions'].get('scikit-learn')}, "
        f"torch {machine['versions'].get('torch', '-')}. Every figure below comes from this one run.",
        "",
    ]
    if "quality" in sections:
        results["quality"] = run_quality(model_dirs, data_dir, say)
        parts += ["## Quality (same data for every scorer: every figure `triage evaluate` reports, the headline ones first; — where a scorer has no such head; calibration error (ece): lower is better)", "", quality_table(results["quality"]), ""]
    if "speed" in sections:
        texts = benchmark_tweets(data_dir, tweets)
        results["speed"] = run_speed(model_dirs, texts, rounds=rounds, encoder=encoder, progress=say)
        parts += [
            f"## Speed on {len(texts):,} real tweets (best of {rounds} rounds, scorers interleaved)",
            "",
            "Our models run the whole pipeline (normaliser, features, heads, PII, DM advice, priority, "
            "output dicts); the peers only their own answer.",
            "",
            speed_table(results["speed"]),
            "",
        ]
    if "memory" in sections:
        results["memory"] = run_memory(model_dirs, encoder, say)
        parts += ["## Memory", "", memory_table(results["memory"]), ""]
    if "api" in sections:
        from training.bench.api_load import run_api_benchmark

        results["api"], markdown = run_api_benchmark(model_spec(model_dirs[0])[0], data_dir, progress=say)
        parts += ["## HTTP API", "", markdown, ""]
    return results, "\n".join(parts)
