"""Explanations for the linear path: which words of a tweet pushed each head's score most.

A head's logit is a sum of feature contributions (value x weight). Word n-gram features are
phrases of the tweet already; character n-grams are credited to the word they were cut from
(the vectorizer cuts them within word boundaries), so "refuuund" still explains as a word. The
dense blocks (lexicon scores, static embeddings) describe the whole tweet and are left out: the
explanation names words an agent can see and highlight.
"""

from __future__ import annotations

import re
from collections import defaultdict

import scipy.sparse as sp

from model.heads import BINARY_OUTPUTS
from model.linear import LinearBackend

_WORD = re.compile(r"\w+|[?!]")
MAX_PHRASES = 5


def _word_spans(text: str) -> list[tuple[str, int, int]]:
    """Lower-cased words of a normalised tweet with their offsets."""
    return [(match.group().lower(), match.start(), match.end()) for match in _WORD.finditer(text)]


def _credit_characters(ngram: str, words: list[tuple[str, int, int]]) -> list[str]:
    """Words a character n-gram (space-padded at word edges) was cut from."""
    core = ngram.strip()
    if not core:
        return []
    hits = []
    for word, _, _ in words:
        padded = f" {word} "
        if ngram in padded:
            hits.append(word)
    return hits or [word for word, _, _ in words if core in word]


def explain_row(
    backend: LinearBackend,
    normalised_text: str,
    features: sp.csr_matrix,
    row: int,
    outputs: dict[str, str],
    lang: str | None = None,
) -> dict[str, list[dict]]:
    """Top phrases per head. `outputs` maps an explanation name (e.g. "intent:complaint",
    "sentiment:negative", "urgency", "dm") to the backend output whose logit it explains; `lang`
    is the language the tweet was scored in (its sentiment weights)."""
    featuriser = backend.featuriser_
    names = featuriser.feature_names_
    words = _word_spans(normalised_text)
    word_block = len(featuriser.word_vectorizer_.vocabulary_)
    char_block = word_block + len(featuriser.char_vectorizer_.vocabulary_)
    explanation: dict[str, list[dict]] = {}
    for label, output in outputs.items():
        columns, contributions = backend.contributions(features, row, output, lang)
        by_phrase: dict[str, float] = defaultdict(float)
        for column, contribution in zip(columns.tolist(), contributions.tolist()):
            if column < word_block:
                by_phrase[names[column][2:]] += contribution
            elif column < char_block:
                credited = _credit_characters(names[column][2:], words)
                for word in credited:
                    by_phrase[word] += contribution / len(credited)
        ranked = sorted(by_phrase.items(), key=lambda item: item[1], reverse=True)
        explanation[label] = [
            {"phrase": phrase, "weight": round(weight, 3)} for phrase, weight in ranked[:MAX_PHRASES] if weight > 0
        ]
    return explanation


def outputs_to_explain(result: dict) -> dict[str, str]:
    """Which backend outputs explain a scored result: its tags, its sentiment, urgency and DM."""
    outputs = {f"intent:{tag}": tag for tag in result["intent"]["tags"]}
    outputs[f"sentiment:{result['sentiment']['label']}"] = f"sentiment:{result['sentiment']['label']}"
    level = result["urgency"]["level"]
    # The urgency score rises with every exceedance logit; the highest one reached explains it.
    outputs["urgency"] = BINARY_OUTPUTS[3 + max(0, min(level, 3) - 1)]
    outputs["dm"] = "dm"
    return outputs


def explain_batch(backend: LinearBackend, normalised: list[str], results: list[dict]) -> list[dict]:
    """Explanations for every result of a batch (features are recomputed once for the batch)."""
    features = backend.featurise(normalised)
    return [
        explain_row(backend, text, features, row, outputs_to_explain(result), result.get("lang"))
        for row, (text, result) in enumerate(zip(normalised, results))
    ]
