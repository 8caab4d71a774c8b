"""Quality of our models and of the peers on the same data, as one table of headline figures."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from model.labels import INTENT_OTHER, INTENT_TAGS, SENTIMENTS
from training.evaluate import TARGETS, evaluate_model, headline
from training.metrics import binary_f1, classification_report

Progress = Callable[[str], None]

# The headline figures, first in the table (names as `training.evaluate.headline` gives them);
# every other figure `triage evaluate` reports follows them.
COMPARED = (
    "care_val.intent.primary_macro_f1",
    "care_val.intent.tags_macro_f1",
    "care_val.sentiment.macro_f1",
    "care_val.urgency.spearman",
    "care_val.urgency.macro_f1",
    "care_val.dm.f1",
    "tweeteval_test.sentiment.macro_recall",
    "complaints_test.complaint.f1",
)


class EvaluationData:
    """The evaluation splits, loaded once for every scorer."""

    def __init__(self, data_dir: Path):
        from training.data import load_care, load_complaints, load_tweeteval_sentiment

        self.care = load_care("val", data_dir=data_dir)
        self.tweeteval = load_tweeteval_sentiment("test", data_dir=data_dir)
        self.complaints = load_complaints("test", data_dir=data_dir)


def model_quality(model_dir: str, data_dir: Path, progress: Progress) -> dict[str, float]:
    from model import load_model
    from training.bench.speed import model_spec

    progress(f"quality of {model_dir}")
    directory, runtime = model_spec(model_dir)
    return headline(evaluate_model(load_model(directory, runtime=runtime), data_dir).metrics)


def peer_quality(peer, data: EvaluationData, progress: Progress) -> dict[str, float]:
    """The headline figures a peer can produce (heads it does not have are absent)."""
    progress(f"quality of {peer.name}")
    figures: dict[str, float] = {}
    care_texts = data.care["text"]
    if "sentiment" in peer.heads:
        care = classification_report(data.care["sentiment"], peer.sentiment(care_texts), SENTIMENTS)
        figures["care_val.sentiment.macro_f1"] = care["macro_f1"]
        test = classification_report(data.tweeteval["sentiment"], peer.sentiment(data.tweeteval["text"]), SENTIMENTS)
        figures["tweeteval_test.sentiment.macro_recall"] = test["macro_recall"]
    if "intent" in peer.heads:
        intent = classification_report(data.care["intent"], peer.intent(care_texts), [*INTENT_TAGS, INTENT_OTHER])
        figures["care_val.intent.primary_macro_f1"] = intent["macro_f1"]
        tags = peer.intent_tags(care_texts)
        truth = np.array([[row[tag] for tag in INTENT_TAGS] for row in data.care])
        figures["care_val.intent.tags_macro_f1"] = float(np.mean([binary_f1(truth[:, i], tags[:, i]) for i in range(len(INTENT_TAGS))]))
    if "complaint" in peer.heads:
        figures["complaints_test.complaint.f1"] = binary_f1(np.asarray(data.complaints["complaint"]), peer.complaint(data.complaints["text"]))
    return figures


def lower_is_better(figure: str) -> bool:
    """Calibration error is the one figure where less is better."""
    return figure.endswith(".ece")


def table_figures(columns: dict[str, dict[str, float]]) -> list[str]:
    """The headline figures in their order, then every other figure any scorer has, sorted."""
    others = sorted({figure for figures in columns.values() for figure in figures} - set(COMPARED))
    return [*COMPARED, *others]


def quality_table(columns: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per figure, one column per scorer; the best value of a row in bold."""
    names = list(columns)
    lines = ["| figure | " + " | ".join(names) + " | floor |", "|---" * (len(names) + 2) + "|"]
    for figure in table_figures(columns):
        values = [columns[name].get(figure) for name in names]
        present = [value for value in values if value is not None]
        best = (min if lower_is_better(figure) else max)(present) if present else None
        cells = []
        for value in values:
            if value is None:
                cells.append("—")
            else:
                text = f"{value:.3f}"
                cells.append(f"**{text}**" if value == best and len(set(present)) > 1 else text)  # ties of all: none
        floor = TARGETS.get(figure)
        lines.append(f"| {figure} | " + " | ".join(cells) + f" | {'' if floor is None else f'{floor:.2f}'} |")
    return "\n".join(lines)
