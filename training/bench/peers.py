"""The peers a user would otherwise reach for, answering the heads they can answer.

- VADER (`vaderSentiment`): sentiment from its compound score with the usual +-0.05 thresholds.
- A keyword baseline: a question mark or a question word asks (question), thanks and praise words
  praise, negative words complain; sentiment from the same words.

Both see the raw tweet text, as a user would feed it to them.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from model.labels import INTENT_TAGS, primary_intent

VADER_THRESHOLD = 0.05


class VaderPeer:
    """VADER's compound score: >= 0.05 positive, <= -0.05 negative, else neutral."""

    name = "VADER"
    heads = ("sentiment",)

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()

    def sentiment(self, texts: Sequence[str]) -> list[str]:
        labels = []
        for text in texts:
            compound = self.analyzer.polarity_scores(text)["compound"]
            labels.append("positive" if compound >= VADER_THRESHOLD else "negative" if compound <= -VADER_THRESHOLD else "neutral")
        return labels


_QUESTION = re.compile(
    r"\?|\b(?:how|what|when|where|why|who|which|can (?:you|i)|could you|is there|do you|does|please|help)\b",
    re.IGNORECASE,
)
_THANKS = re.compile(
    r"\b(?:thanks?|thank you|thx|ty|love|great|awesome|amazing|excellent|best|appreciate\w*|perfect|kudos)\b",
    re.IGNORECASE,
)
_NEGATIVE = re.compile(
    r"\b(?:not|no|never|nothing|can'?t|won'?t|don'?t|doesn'?t|didn'?t|isn'?t|broken|broke|fail\w*|worst|terrible|"
    r"awful|bad|poor|useless|late|delay\w*|cancel\w*|lost|missing|wrong|error|issue|problem\w*|refund|still|"
    r"waiting|disappoint\w*|annoy\w*|angry|hate|ridiculous|unacceptable|crash\w*|down|charged)\b",
    re.IGNORECASE,
)


class KeywordPeer:
    """Rules on question marks, thanks and negative words."""

    name = "keywords"
    heads = ("intent", "sentiment", "complaint")

    def intent_tags(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 3) complaint, question, praise flags."""
        return np.array(
            [
                [bool(_NEGATIVE.search(text)), bool(_QUESTION.search(text)), bool(_THANKS.search(text)) and not _NEGATIVE.search(text)]
                for text in texts
            ],
            dtype=bool,
        )

    def intent(self, texts: Sequence[str]) -> list[str]:
        return [primary_intent([tag for tag, on in zip(INTENT_TAGS, row) if on]) for row in self.intent_tags(texts)]

    def sentiment(self, texts: Sequence[str]) -> list[str]:
        labels = []
        for text in texts:
            negative, positive = len(_NEGATIVE.findall(text)), len(_THANKS.findall(text))
            labels.append("negative" if negative > positive else "positive" if positive > negative else "neutral")
        return labels

    def complaint(self, texts: Sequence[str]) -> np.ndarray:
        return self.intent_tags(texts)[:, 0]


PEERS = (VaderPeer, KeywordPeer)
