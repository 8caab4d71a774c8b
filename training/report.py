"""`report.md` and its PNG plots: per-head tables, confusion matrices, reliability diagrams."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.labels import INTENT_OTHER, INTENT_TAGS, SENTIMENTS, URGENCY_LEVELS
from training.evaluate import TARGETS, Evaluation, headline

PLOTS_DIR = "plots"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: training runs on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(path: Path, matrix: list[list[int]], labels: list[str], title: str) -> None:
    plt = _pyplot()
    matrix = np.asarray(matrix)
    figure, axes = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    peak = matrix.max() if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        axes.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_reliability(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, bins: int = 10) -> None:
    """Reliability diagram: observed frequency against predicted probability, one line per curve."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    edges = np.linspace(0, 1, bins + 1)
    for name, (probability, outcome) in curves.items():
        which = np.clip(np.digitize(probability, edges[1:-1], right=True), 0, bins - 1)
        xs, ys = [], []
        for b in range(bins):
            in_bin = which == b
            if in_bin.sum() >= 5:  # a bin of a handful of tweets says nothing
                xs.append(probability[in_bin].mean())
                ys.append(outcome[in_bin].mean())
        axes.plot(xs, ys, marker="o", label=name)
    axes.set_xlabel("predicted probability")
    axes.set_ylabel("observed frequency")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _per_class_table(report: dict, names: list[str] | None = None) -> list[str]:
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for index, (label, values) in enumerate(report["per_class"].items()):
        name = names[index] if names else label
        lines.append(
            f"| {name} | {values['precision']:.3f} | {values['recall']:.3f} | {values['f1']:.3f} | {values['support']} |"
        )
    return lines


def write_report(directory: Path, manifest: dict, evaluation: Evaluation) -> list[str]:
    """Write `report.md` and `plots/*.png` into the artifact directory; return the files written."""
    plots = directory / PLOTS_DIR
    plots.mkdir(exist_ok=True)
    metrics = evaluation.metrics
    written = []
    lines = [
        f"# Model report: {manifest['name']} ({manifest['model_version']})",
        "",
        f"Backend `{manifest['backend']['kind']}`, trained {manifest['trained_at']} in "
        f"{manifest.get('training_seconds', 0):.0f} s on {sum(manifest['training_data']['counts'].values())} tweets "
        f"({', '.join(f'{k}: {v}' for k, v in manifest['training_data']['counts'].items())}).",
        f"Left out of training: {manifest['training_data']['excluded'] or 'nothing'}.",
        "",
        "## Headline figures",
        "",
        "| metric | value | floor |",
        "|---|---|---|",
    ]
    for name, value in headline(metrics).items():
        floor = TARGETS.get(name)
        lines.append(f"| {name} | {value:.4f} | {'' if floor is None else f'{floor:.2f}'} |")
    lines += ["", "## Thresholds (tuned on out-of-fold predictions of care/train)", "", "```json"]
    import json

    lines += [json.dumps(manifest["thresholds"], indent=2), "```", ""]

    care = metrics.get("care_val")
    arrays = evaluation.arrays.get("care_val")
    if care and arrays is not None:
        heads = [
            ("intent", "Intent (primary label)", [*INTENT_TAGS, INTENT_OTHER]),
            ("sentiment", "Sentiment", list(SENTIMENTS)),
            ("urgency", "Urgency", list(URGENCY_LEVELS)),
            ("dm", "DM suggestion (model + rules)", ["no", "yes"]),
        ]
        for key, title, names in heads:
            report = care[key]
            extra = f", Spearman {report['spearman']:.3f}" if key == "urgency" else ""
            extra += f", F1 of 'yes' {report['f1']:.3f} (head alone {report['head_only_f1']:.3f})" if key == "dm" else ""
            lines += [
                f"## {title} on care/val",
                "",
                f"macro-F1 {report['macro_f1']:.3f}, accuracy {report['accuracy']:.3f}{extra}, ECE {report['ece']:.3f}",
                "",
                *_per_class_table(report, names),
                "",
            ]
            name = f"{PLOTS_DIR}/confusion_{key}.png"
            plot_confusion(directory / name, report["confusion"], names, f"{title}, care/val")
            lines += [f"![confusion matrix]({name})", ""]
            written.append(name)
        tag_lines = ["| tag | F1 | ECE |", "|---|---|---|"]
        for tag, values in care["intent"]["tags"].items():
            tag_lines.append(f"| {tag} | {values['f1']:.3f} | {values['ece']:.3f} |")
        lines += ["## Intent tags on care/val", "", *tag_lines, ""]

        curves = {
            f"intent:{tag}": (arrays["intent_probabilities"][:, i], arrays["intent_tags_true"][:, i])
            for i, tag in enumerate(INTENT_TAGS)
        }
        curves["dm"] = (arrays["dm_probabilities"], arrays["dm_true"])
        sentiment_probabilities = arrays["sentiment_probabilities"]
        curves["sentiment (top label)"] = (
            sentiment_probabilities.max(axis=1),
            (sentiment_probabilities.argmax(axis=1) == arrays["sentiment_true"]).astype(float),
        )
        urgency_probabilities = arrays["urgency_probabilities"]
        curves["urgency (top level)"] = (
            urgency_probabilities.max(axis=1),
            (urgency_probabilities.argmax(axis=1) == arrays["urgency_true"]).astype(float),
        )
        name = f"{PLOTS_DIR}/reliability.png"
        plot_reliability(directory / name, curves, "Reliability on care/val")
        written.append(name)
        lines += ["## Calibration on care/val", "", f"![reliability diagram]({name})", ""]

    if "tweeteval_test" in metrics:
        report = metrics["tweeteval_test"]["sentiment"]
        lines += [
            "## TweetEval sentiment test",
            "",
            f"macro-recall {report['macro_recall']:.3f} (official metric; published: SVM 0.629, "
            f"RoBERTa-base 0.726, BERTweet 0.734), macro-F1 {report['macro_f1']:.3f}",
            "",
            *_per_class_table(report),
            "",
        ]
        name = f"{PLOTS_DIR}/confusion_tweeteval.png"
        plot_confusion(directory / name, report["confusion"], list(SENTIMENTS), "Sentiment, TweetEval test")
        lines += [f"![confusion matrix]({name})", ""]
        written.append(name)
    if "complaints_test" in metrics:
        report = metrics["complaints_test"]["complaint"]
        lines += [
            "## Complaints test (Preotiuc-Pietro et al. 2019)",
            "",
            f"F1 of the complaint class {report['f1']:.3f} (the paper reports about 0.78 with feature-based models)",
            "",
            *_per_class_table(report, ["not complaint", "complaint"]),
            "",
        ]
    care_it = metrics.get("care_it_val")
    if care_it:
        lines += [
            "## Italian: care_it/val (translated care tweets, their English originals not trained on)",
            "",
            "| head | macro-F1 | other |",
            "|---|---|---|",
            f"| intent (primary label) | {care_it['intent']['macro_f1']:.3f} | tags macro-F1 {care_it['intent']['tags_macro_f1']:.3f} |",
            f"| sentiment | {care_it['sentiment']['macro_f1']:.3f} | ECE {care_it['sentiment']['ece']:.3f} |",
            f"| urgency | {care_it['urgency']['macro_f1']:.3f} | Spearman {care_it['urgency']['spearman']:.3f} |",
            f"| DM | {care_it['dm']['macro_f1']:.3f} | F1 of 'yes' {care_it['dm']['f1']:.3f} |",
            "",
        ]
    if "thresholds_by_language" in manifest and manifest["thresholds_by_language"]:
        lines += ["Thresholds per language:", "", "```json", json.dumps(manifest["thresholds_by_language"], indent=2), "```", ""]
    if "sentipolc_test" in metrics:
        italian = metrics["sentipolc_test"]
        baselines = ", ".join(f"{name} {report['macro_f1']:.3f}" for name, report in italian.get("baselines", {}).items())
        lines += [
            "## Italian tweet sentiment (XLM-T Italian test, drawn from SENTIPOLC 2016)",
            "",
            f"macro-F1 {italian['sentiment']['macro_f1']:.3f} on {italian['tweets']} tweets; lexicon-free baselines "
            f"fitted on SENTIPOLC train: {baselines}",
            "",
            *_per_class_table(italian["sentiment"]),
            "",
        ]
    (directory / "report.md").write_text("\n".join(lines))
    return ["report.md", *written]
