"""Export the transformer path's encoder to ONNX, quantise it to int8, check it against torch.

- `int8_encoder_bytes(encoder)`: torch -> ONNX (opset 17, dynamic batch and length) -> dynamic int8
  quantisation with ONNX Runtime (per-channel int8 weights: per-tensor scales lost too much of
  MiniLM's outlier channels, mean cosine 0.96 against fp32 instead of 0.99);
- `compare_probabilities(reference, candidate)`: the largest probability difference per head and
  how often the decisions agree.

An artifact that kept its torch weights is scored on either runtime (`load_model(dir,
runtime="torch")`, `triage bench --model DIR@torch`): one training run gives both sides of the
torch-vs-ONNX comparison.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np

from model.decisions import Thresholds, decide
from model.heads import HeadProbabilities
from model.labels import INTENT_TAGS

OPSET = 17


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
