"""Export the transformer path's encoder to ONNX, quantise it to int8, check it against torch.

- `int8_encoder_bytes(encoder)`: torch -> ONNX (opset 17, dynamic batch and length) -> dynamic int8
  quantisation with ONNX Runtime (per-channel int8 weights: per-tensor scales lost too much of
  MiniLM's outlier channels, mean cosine 0.96 against fp32 instead of 0.99);
- `compare_probabilities(reference, candidate)`: the largest probability difference per head and
  how often the decisions agree;
- `python -m training.export_onnx --model DIR --output DIR2 --runtime onnx|torch`: derive from a
  trained transformer artifact (one that kept its torch weights) the same model on another
  runtime, or without the torch weights (the artifact to ship): same heads, calibration and
  thresholds, evaluated again, hashed again. This is how one training run gives both sides of
  the torch-vs-ONNX comparison.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from model.decisions import Thresholds, decide
from model.heads import HeadProbabilities
from model.labels import INTENT_TAGS

OPSET = 17
Progress = Callable[[str], None]


def export_onnx(module, path: Path) -> None:
    """Write the mean-pooled encoder `module` (see `model.transformer.mean_pooled`) as ONNX fp32."""
    import torch

    module = copy.deepcopy(module).eval()
    encoder = module.encoder
    if hasattr(encoder, "set_attn_implementation"):
        encoder.set_attn_implementation("eager")  # plain ops: what the tracer and the quantiser handle
    example = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            module,
            (example, example),
            str(path),
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, a graph ORT fuses well
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def quantise_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of every MatMul's weights (activations quantised at run time)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # the quantiser logs a pre-processing hint as a warning
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def int8_encoder_bytes(module) -> bytes:
    """The int8 ONNX model of a mean-pooled encoder module, as bytes."""
    with tempfile.TemporaryDirectory(prefix="triage-onnx-") as scratch:
        fp32, int8 = Path(scratch) / "encoder.onnx", Path(scratch) / "encoder.int8.onnx"
        export_onnx(module, fp32)
        quantise_int8(fp32, int8)
        return int8.read_bytes()


def compare_probabilities(
    reference: HeadProbabilities, candidate: HeadProbabilities, thresholds: Thresholds | None = None
) -> dict:
    """Largest absolute probability difference per head, and the share of tweets whose decision
    agrees per head (with `thresholds`, else 0.5 for tags and DM and the argmax elsewhere)."""
    thresholds = thresholds or Thresholds(intent=(0.5,) * len(INTENT_TAGS), urgency_cuts=(0.17, 0.5, 0.83), dm=0.5)
    first, second = decide(reference, thresholds), decide(candidate, thresholds)
    differences = {
        head: float(np.max(np.abs(getattr(reference, head) - getattr(candidate, head)), initial=0.0))
        for head in ("intent", "sentiment", "urgency", "dm")
    }
    agreement = {
        "intent_tags": float(np.mean(np.all(first.intent_on == second.intent_on, axis=1))),
        "intent_primary": float(np.mean(first.primary_intent == second.primary_intent)),
        "sentiment": float(np.mean(first.sentiment == second.sentiment)),
        "urgency_level": float(np.mean(first.urgency_level == second.urgency_level)),
        "dm": float(np.mean(first.dm_model == second.dm_model)),
    }
    return {
        "tweets": len(reference),
        "max_abs_difference": max(differences.values(), default=0.0),
        "max_abs_difference_per_head": differences,
        "label_agreement": agreement,
    }


# -- deriving an artifact on another runtime ----------------------------------------------------
def derive(
    source: str | Path,
    output: str | Path,
    runtime: str,
    *,
    keep_torch_weights: bool = False,
    check_tweets: int = 2000,
    data_dir: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Write `output`: the transformer model of `source` scored by `runtime`, evaluated again."""
    from model.artifact import content_digest, hash_files, read_verified_manifest, write_manifest
    from model.normalise import normalise_tweet
    from model.transformer import (
        ONNX_FILE,
        TORCH_CONFIG_FILE,
        TORCH_WEIGHTS_FILE,
        TransformerBackend,
        encoder_for,
    )
    from model.triage import TriageModel
    from training.data import load_care, resolve_data_dir
    from training.evaluate import evaluate_model, headline
    from training.report import write_report
    from training.train import CONFIG_FILE, METRICS_FILE, TrainingError, _replace

    say = progress or (lambda message: None)
    source, output = Path(source), Path(output)
    if output.exists() and not force:
        raise TrainingError(f"{output} already exists: pass --force to replace it")
    manifest = read_verified_manifest(source)
    description = manifest.get("backend") or {}
    if description.get("kind") != "transformer":
        raise TrainingError(f"{source} is not a transformer model")
    if TORCH_WEIGHTS_FILE not in description.get("encoder_files", []):
        raise TrainingError(f"{source} has no torch weights to derive from (train with transformer.keep_torch_weights=true)")

    reference = TransformerBackend.load(source, description, runtime="torch")
    files = {name: data for name, data in reference.encoder_files.items()}
    if runtime == "onnx":
        say("exporting the encoder to ONNX and quantising it to int8")
        files[ONNX_FILE] = int8_encoder_bytes(reference.encoder.module)
    if not (keep_torch_weights or runtime == "torch"):
        for name in (TORCH_WEIGHTS_FILE, TORCH_CONFIG_FILE):
            files.pop(name)
    if runtime == "torch":
        files.pop(ONNX_FILE, None)
    info = dict(reference.info)
    derived = TransformerBackend(
        reference.tokenizer, encoder_for(runtime, files), reference.heads, runtime, encoder_files=files, info=info
    )
    data_path = resolve_data_dir(data_dir)
    if runtime == "onnx":
        # Real tweets the model was trained on or not, it does not matter here: the check compares
        # two runtimes of one model, with the thresholds the model decides with.
        say(f"comparing torch and ONNX int8 on {check_tweets} care/train tweets")
        texts = [normalise_tweet(text) for text in load_care("train", data_dir=data_path)["text"][:check_tweets]]
        thresholds = Thresholds.from_dict(manifest["thresholds"], INTENT_TAGS)
        derived.info["export_check"] = compare_probabilities(
            reference.predict_proba(texts), derived.predict_proba(texts), thresholds
        )
        say(f"export check: {json.dumps(derived.info['export_check'])}")

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        model_files = derived.save(staging)
        shutil.copyfile(source / CONFIG_FILE, staging / CONFIG_FILE)
        trained_at = datetime.now(timezone.utc)
        digest = content_digest(hash_files(staging, [*model_files, CONFIG_FILE]))
        new = {
            key: manifest[key]
            for key in ("name", "labels", "thresholds", "config", "versions", "training_data", "training_seconds")
            if key in manifest
        }
        new.update(
            model_version=f"{trained_at:%Y.%m.%d}-{digest[:6]}",
            trained_at=manifest["trained_at"],
            derived={"from": manifest["model_version"], "runtime": runtime, "at": trained_at.isoformat(timespec="seconds")},
            backend=derived.describe(),
        )
        say("evaluating the derived model")
        evaluation = evaluate_model(TriageModel(derived, new), data_path, progress=say)
        new["metrics"] = headline(evaluation.metrics)
        (staging / METRICS_FILE).write_text(json.dumps(evaluation.metrics, indent=2, sort_keys=True) + "\n")
        write_report(staging, new, evaluation)
        write_manifest(staging, new)
        _replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"model {new['model_version']} ({runtime}) written to {output}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export_onnx", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained transformer model that kept its torch weights")
    parser.add_argument("--output", required=True, help="model directory to write")
    parser.add_argument("--runtime", choices=["onnx", "torch"], required=True)
    parser.add_argument("--keep-torch-weights", action="store_true", help="keep the safetensors weights (onnx runtime)")
    parser.add_argument("--check-tweets", type=int, default=2000, help="real tweets for the torch-vs-ONNX check")
    parser.add_argument("--data-dir", help="data directory (default: $TRIAGE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--force", action="store_true", help="replace an existing model directory")
    args = parser.parse_args(argv)
    from training.train import print_progress

    started = time.perf_counter()
    derive(
        args.model,
        args.output,
        args.runtime,
        keep_torch_weights=args.keep_torch_weights,
        check_tweets=args.check_tweets,
        data_dir=args.data_dir,
        force=args.force,
        progress=print_progress,
    )
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
