"""tweet-triage's model: everything that turns tweet text into triage scores.

Shared by training and serving. Imports neither fastapi nor datasets; torch and transformers are
imported lazily, only where the transformer path is used.

    from model import load_model
    model = load_model("models/default")
    model.score([{"id": "1", "text": "@brand my order never arrived, where is it?"}])
"""

from model.normalise import NORMALISER_VERSION, normalise_tweet

__all__ = ["NORMALISER_VERSION", "TriageModel", "load_model", "normalise_tweet"]


def __getattr__(name: str):
    # Imported on first use: `import model.normalise` (or `model.pii`) stays light, without sklearn.
    if name in ("TriageModel", "load_model"):
        from model import triage

        return getattr(triage, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
