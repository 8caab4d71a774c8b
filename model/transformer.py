"""The transformer path: a MiniLM encoder, mean pooling, four heads, calibrated probabilities.

Scoring a batch:
1. tokenise the normalised texts with the artifact's `tokenizer.json` (the `tokenizers` library:
   no transformers needed at inference), truncated to `max_length` tokens;
2. sort them by length and encode in batches padded only to their longest member (tweets vary
   from 5 to 64 tokens: padding everything to 64 would double the work);
3. the encoder (ONNX Runtime, int8, for serving; torch, for the comparison) returns one
   mean-pooled embedding per tweet;
4. one matrix product gives every head's logits (`OUTPUTS`); Platt scaling per binary output and
   a temperature for the sentiment softmax turn them into calibrated probabilities.

Heads, as the linear path has them: three independent intent tags, a 3-way sentiment softmax,
urgency as three cumulative sigmoids P(level > k) (`urgency_from_exceedance`), a DM sigmoid.

torch, transformers and onnxruntime are imported inside functions: `import model` stays light, and
an ONNX artifact never imports torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.special import expit

from model.heads import BINARY_OUTPUTS, HeadProbabilities, head_probabilities
from model.labels import SENTIMENTS

TOKENIZER_FILE = "tokenizer.json"
HEADS_FILE = "transformer_heads.safetensors"
LAYOUT_FILE = "transformer.json"
ONNX_FILE = "encoder.int8.onnx"
TORCH_WEIGHTS_FILE = "encoder.safetensors"
TORCH_CONFIG_FILE = "encoder_config.json"
RUNTIMES = ("onnx", "torch")
RUNTIME_FILES = {"onnx": (ONNX_FILE,), "torch": (TORCH_WEIGHTS_FILE, TORCH_CONFIG_FILE)}

OUTPUTS: tuple[str, ...] = (*BINARY_OUTPUTS, *(f"sentiment:{label}" for label in SENTIMENTS))
"""Columns of the head matrix: seven binary logits, then the three sentiment logits."""

INFERENCE_BATCH = 64  # sorted by length, so padding stays small; larger batches gain nothing on 2 cores


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# -- heads ---------------------------------------------------------------------------------------
@dataclass
class TransformerHeads:
    """A linear layer over the pooled embedding, with its calibration.

    weights: (dim, len(OUTPUTS)), bias: (len(OUTPUTS),)
    platt_slope, platt_intercept: (7,) per binary output: P = sigmoid(slope * logit + intercept)
    sentiment_temperature: softmax(logits / T)
    normalise: L2-normalise embeddings before the heads (sentence-transformers' convention, used
    by the frozen variant whose heads were fitted on normalised embeddings)
    """

    weights: np.ndarray
    bias: np.ndarray
    platt_slope: np.ndarray
    platt_intercept: np.ndarray
    sentiment_temperature: float = 1.0
    normalise: bool = False

    def __post_init__(self) -> None:
        if self.weights.shape[1] != len(OUTPUTS) or self.bias.shape != (len(OUTPUTS),):
            raise ValueError(f"heads have {self.weights.shape[1]} outputs, expected {len(OUTPUTS)}")

    @classmethod
    def uncalibrated(cls, weights: np.ndarray, bias: np.ndarray, normalise: bool = False) -> TransformerHeads:
        n = len(BINARY_OUTPUTS)
        return cls(weights, bias, np.ones(n), np.zeros(n), 1.0, normalise)

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, len(OUTPUTS)) raw logits of pooled embeddings."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if self.normalise:
            embeddings = l2_normalised(embeddings)
        return embeddings @ self.weights.astype(np.float64) + self.bias

    def probabilities(self, logits: np.ndarray) -> HeadProbabilities:
        """Calibrated probabilities of every head from raw logits."""
        n_binary = len(BINARY_OUTPUTS)
        binary = expit(self.platt_slope * logits[:, :n_binary] + self.platt_intercept)
        return head_probabilities(binary, logits[:, n_binary:] / self.sentiment_temperature)

    def save(self, directory: Path) -> list[str]:
        from safetensors.numpy import save_file

        # C order explicitly: safetensors writes an array's buffer as is, and a transposed
        # (Fortran-ordered) matrix, such as torch's head weights .T, would load scrambled.
        save_file(
            {
                "weights": np.ascontiguousarray(self.weights, dtype=np.float32),
                "bias": np.ascontiguousarray(self.bias, dtype=np.float32),
            },
            directory / HEADS_FILE,
            metadata={"outputs": ",".join(OUTPUTS)},
        )
        return [HEADS_FILE]

    def calibration(self) -> dict:
        """The calibration parameters, for the layout JSON (small, readable)."""
        return {
            "platt": {
                output: [float(slope), float(intercept)]
                for output, slope, intercept in zip(BINARY_OUTPUTS, self.platt_slope, self.platt_intercept)
            },
            "sentiment_temperature": float(self.sentiment_temperature),
            "normalise": self.normalise,
        }

    @classmethod
    def load(cls, directory: Path, calibration: dict) -> TransformerHeads:
        from safetensors import safe_open

        with safe_open(directory / HEADS_FILE, framework="numpy") as handle:
            if (handle.metadata() or {}).get("outputs") != ",".join(OUTPUTS):
                raise ValueError("the transformer heads were written for other outputs than this code scores")
            weights, bias = handle.get_tensor("weights"), handle.get_tensor("bias")
        platt = calibration["platt"]
        return cls(
            weights=weights,
            bias=bias,
            platt_slope=np.array([platt[output][0] for output in BINARY_OUTPUTS]),
            platt_intercept=np.array([platt[output][1] for output in BINARY_OUTPUTS]),
            sentiment_temperature=float(calibration["sentiment_temperature"]),
            normalise=bool(calibration["normalise"]),
        )


# -- tokeniser -----------------------------------------------------------------------------------
class TweetTokenizer:
    """The encoder's WordPiece tokenizer (`tokenizer.json`), truncating, never padding."""

    def __init__(self, tokenizer_json: str, max_length: int):
        from tokenizers import Tokenizer

        self.max_length = max_length
        self.json = tokenizer_json
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_padding()  # padding is per batch, after sorting by length
        self.tokenizer.enable_truncation(max_length)

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, [CLS] ... [SEP], at most `max_length`."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]


def padded_batches(token_ids: list[list[int]], batch_size: int):
    """Yield (rows, input_ids, attention_mask): batches of similar length, padded with 0 ([PAD]).

    Rows are sorted by length so that each batch pads to a near-equal length; `rows` says which
    input each line is, to put the results back in order.
    """
    lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(token_ids))
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = int(lengths[rows].max())
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for line, row in enumerate(rows):
            ids = token_ids[row]
            input_ids[line, : len(ids)] = ids
            mask[line, : len(ids)] = 1
        yield rows, input_ids, mask


# -- encoders ------------------------------------------------------------------------------------
_SESSIONS_FROM_PARENT: list = []
"""ONNX Runtime sessions a forked worker inherited and replaced (never destroyed: see `session`)."""


class OnnxEncoder:
    """Pooled embeddings from the exported (int8) encoder with ONNX Runtime.

    Activations are quantised per batch (dynamic quantisation), so a tweet's probabilities can
    differ in the third decimal between a batch and a single call; the export check measures it.

    The session is rebuilt in a forked child (`model/parallel.py` forks scoring workers): ONNX
    Runtime's thread pool does not survive a fork. Each child then runs one thread, since the
    parallelism is in the processes.
    """

    def __init__(self, model_bytes: bytes, threads: int | None = None):
        self.model_bytes = model_bytes
        self.threads = threads
        self._pid = None
        self._session = None
        self.session()  # at load time, not on the first request

    def session(self):
        if self._session is None or self._pid != os.getpid():
            import onnxruntime as ort

            child = self._pid is not None and self._pid != os.getpid()
            if child and self._session is not None:
                # The parent's session must not be destroyed here: its thread pool's condition
                # variables were copied mid-use by the fork and destroying them can hang forever
                # (seen in CI). It is kept, unused; a worker leaves with os._exit, no destructor runs.
                _SESSIONS_FROM_PARENT.append(self._session)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1 if child else (self.threads or usable_cores())
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            self._session = ort.InferenceSession(self.model_bytes, options, providers=["CPUExecutionProvider"])
            self._pid = os.getpid()
        return self._session

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session().run(["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def __getstate__(self):  # never pickle a live session
        return {"model_bytes": self.model_bytes, "threads": self.threads, "_pid": None, "_session": None}


class TorchEncoder:
    """Pooled embeddings from the fine-tuned encoder in torch (fp32): the reference for the ONNX path."""

    def __init__(self, config: dict, state: dict, threads: int | None = None):
        import torch
        from transformers import BertConfig, BertModel

        self.threads = threads
        # Built from a plain config and loaded from safetensors: no hub, no remote code.
        self.module = mean_pooled(BertModel(BertConfig(**config), add_pooling_layer=False))
        missing, unexpected = self.module.encoder.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"encoder weights do not match its config (missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.module.eval()
        self._torch = torch
        self._pid = os.getpid()
        torch.set_num_threads(threads or usable_cores())

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        if self._pid != os.getpid():  # a forked scoring worker: the parallelism is in the processes
            torch.set_num_threads(1)
            self._pid = os.getpid()
        with torch.inference_mode():
            return self.module(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).numpy()


def mean_pooled(encoder):
    """A torch module: `encoder` followed by the attention-masked mean of its last hidden states.

    The same module is fine-tuned, exported to ONNX and used by `TorchEncoder`, so the three agree
    by construction. (Defined inside a function: torch is imported only when needed.)
    """
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    return MeanPooled(encoder)


def l2_normalised(embeddings: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero): sentence-transformers' convention."""
    return embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)


def pooled_embeddings(tokenizer: TweetTokenizer, encoder, texts: Sequence[str], batch_size: int, dim: int) -> np.ndarray:
    """(n, dim) pooled embeddings of normalised texts, in input order, batch by batch."""
    token_ids = tokenizer.ids(texts)
    out = np.empty((len(texts), dim), dtype=np.float32)
    for rows, input_ids, mask in padded_batches(token_ids, batch_size):
        out[rows] = encoder(input_ids, mask)
    return out


def sentence_embeddings(tokenizer: TweetTokenizer, encoder, texts: Sequence[str], dim: int) -> np.ndarray:
    """(n, dim) l2-normalised pooled embeddings of normalised texts: what a frozen encoder gives its
    logistic heads (the frozen transformer path) or the distillation teacher."""
    return l2_normalised(pooled_embeddings(tokenizer, encoder, texts, INFERENCE_BATCH, dim))


# -- the backend ---------------------------------------------------------------------------------
class TransformerBackend:
    """Tokeniser + encoder + calibrated heads. `predict_proba` expects normalised texts.

    Built by the trainer (`training/finetune.py`) or loaded from an artifact; it is the inference
    half of the transformer path and does not fit anything itself.
    """

    kind = "transformer"

    def __init__(self, tokenizer: TweetTokenizer, encoder, heads: TransformerHeads, runtime: str, *,
                 encoder_files: dict[str, bytes] | None = None, info: dict | None = None):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.heads = heads
        self.runtime = runtime
        self.encoder_files = encoder_files or {}  # file name -> bytes, written by `save`
        self.info = dict(info or {})  # what training recorded (epochs, export check, ...)
        self.batch_size = INFERENCE_BATCH

    def fit(self, texts, targets, **options):
        raise NotImplementedError("the transformer backend is trained by training/finetune.py")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) pooled embeddings of normalised texts, in input order."""
        return pooled_embeddings(self.tokenizer, self.encoder, texts, self.batch_size, self.heads.weights.shape[0])

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.heads.logits(self.embed(texts))

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> HeadProbabilities:
        """Calibrated probabilities of every head for normalised texts (one set of weights for
        every language: `languages` is accepted for the backend protocol and not needed)."""
        return self.heads.probabilities(self.logits(texts))

    def without_torch_weights(self) -> TransformerBackend:
        """The same ONNX model without the fp32 torch files: what an artifact ships."""
        if self.runtime != "onnx":
            raise ValueError("only an ONNX model can drop its torch weights")
        files = {name: data for name, data in self.encoder_files.items() if name not in (TORCH_WEIGHTS_FILE, TORCH_CONFIG_FILE)}
        return TransformerBackend(self.tokenizer, self.encoder, self.heads, self.runtime, encoder_files=files, info=self.info)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> list[str]:
        """Write tokenizer, heads, layout and encoder file(s); return their relative paths."""
        (directory / TOKENIZER_FILE).write_text(self.tokenizer.json, encoding="utf-8")
        written = [TOKENIZER_FILE, *self.heads.save(directory)]
        layout = {"outputs": list(OUTPUTS), "max_length": self.tokenizer.max_length, **self.heads.calibration()}
        (directory / LAYOUT_FILE).write_text(json.dumps(layout, indent=2, sort_keys=True) + "\n")
        written.append(LAYOUT_FILE)
        for name, data in sorted(self.encoder_files.items()):
            (directory / name).write_bytes(data)
            written.append(name)
        return written

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "runtime": self.runtime,
            "max_length": self.tokenizer.max_length,
            "encoder_files": sorted(self.encoder_files),
            **self.info,
        }

    @classmethod
    def load(cls, directory: Path, description: dict, *, runtime: str | None = None) -> TransformerBackend:
        """Rebuild from `save`'s files (hashes verified by the caller).

        The description's runtime decides the encoder: ONNX Runtime on the int8 model, or torch on
        the safetensors weights. `runtime` overrides it (for comparisons on one artifact).
        """
        runtime = runtime or description.get("runtime", "onnx")
        layout = json.loads((directory / LAYOUT_FILE).read_text(encoding="utf-8"))
        if layout.get("outputs") != list(OUTPUTS):
            raise ValueError("the transformer layout names other outputs than this code scores")
        tokenizer = TweetTokenizer((directory / TOKENIZER_FILE).read_text(encoding="utf-8"), int(layout["max_length"]))
        heads = TransformerHeads.load(directory, layout)
        # Only the files this runtime needs: an ONNX model does not hold 90 MB of torch weights.
        needed = RUNTIME_FILES.get(runtime, ())
        files = {name: (directory / name).read_bytes() for name in description.get("encoder_files", []) if name in needed}
        encoder = encoder_for(runtime, files)
        info = {key: value for key, value in description.items() if key not in ("kind", "runtime", "max_length", "encoder_files")}
        return cls(tokenizer, encoder, heads, runtime, encoder_files=files, info=info)


def encoder_for(runtime: str, files: dict[str, bytes], threads: int | None = None):
    """The encoder of a runtime from the artifact's encoder files."""
    if runtime == "onnx":
        if ONNX_FILE not in files:
            raise ValueError(f"runtime onnx needs {ONNX_FILE}, which this artifact does not have")
        return OnnxEncoder(files[ONNX_FILE], threads)
    if runtime == "torch":
        if TORCH_WEIGHTS_FILE not in files or TORCH_CONFIG_FILE not in files:
            raise ValueError(f"runtime torch needs {TORCH_WEIGHTS_FILE} and {TORCH_CONFIG_FILE}")
        from safetensors.torch import load as load_safetensors

        config = json.loads(files[TORCH_CONFIG_FILE])
        return TorchEncoder(config, load_safetensors(files[TORCH_WEIGHTS_FILE]), threads)
    raise ValueError(f"unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")


def holdout_rows(texts: Sequence[str], eligible: np.ndarray, share: float) -> np.ndarray:
    """The rows the transformer path never trains on: a stable `share` of the eligible rows (our
    care tweets), chosen by a hash of the normalised text.

    Early stopping, calibration, threshold tuning and the ensemble's weights all use this slice;
    hashing the text (not drawing at random) makes it the same for every recipe and puts duplicate
    tweets on the same side.
    """
    import hashlib

    rows = [
        row
        for row in np.flatnonzero(eligible)
        if int.from_bytes(hashlib.sha256(texts[row].encode("utf-8")).digest()[:8], "big") / 2**64 < share
    ]
    return np.asarray(rows, dtype=np.int64)
