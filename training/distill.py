"""The MiniLM teacher's embedder for distillation (`[distill] teacher = "minilm"`, model/distill.py).

The packaged all-MiniLM-L6-v2 encoder, mean-pooled, exported to ONNX and quantised to int8 exactly
as the frozen transformer path does, embeds the teacher's tweets once during training. Only
training needs it: the distilled linear model scores without any encoder.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from model.transformer import OnnxEncoder, TweetTokenizer, mean_pooled, sentence_embeddings
from training.config import TransformerSection


class MiniLMTeacherEmbedder:
    """l2-normalised MiniLM sentence embeddings of normalised tweets (English: the encoder's language)."""

    languages = ("en",)

    def __init__(self, threads: int):
        self.threads = threads

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from training.export_onnx import int8_encoder_bytes
        from training.finetune import load_pretrained_encoder

        torch.set_num_threads(self.threads)
        encoder, tokenizer_json = load_pretrained_encoder()
        onnx = OnnxEncoder(int8_encoder_bytes(mean_pooled(encoder).eval()), self.threads)
        tokenizer = TweetTokenizer(tokenizer_json, TransformerSection.max_length)  # the transformer path's default
        return sentence_embeddings(tokenizer, onnx, texts, encoder.config.hidden_size)


_EMBEDDERS = {"minilm": MiniLMTeacherEmbedder}  # model.distill.TEACHERS beside "none"


def teacher_embedder(teacher: str, threads: int):
    """The embedder a recipe's `distill.teacher` names (DistillSettings has checked the name), or
    None for "none"."""
    return None if teacher == "none" else _EMBEDDERS[teacher](threads)
