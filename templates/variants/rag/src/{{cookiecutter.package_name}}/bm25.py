"""Okapi BM25 over chunks: a small, exact implementation with sparse postings."""

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

_WORD = re.compile(r"[a-z0-9]+")
# A literal string keeps the list readable; split once at import.
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i if in is "  # noqa: SIM905
    "it its my of on or our that the their them they this to was we what when "
    "where which who why will with you your".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words without stopwords, with a plural `s` removed."""
    tokens = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        plural = len(word) > 3 and word.endswith("s") and not word.endswith("ss")
        tokens.append(word[:-1] if plural else word)
    return tokens


class BM25:
    """Scores documents (here: chunks) for a query; k1 and b take the usual defaults."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.size = len(texts)
        tokenized = [tokenize(text) for text in texts]
        lengths = np.array([len(tokens) for tokens in tokenized], dtype=np.float64)
        average = float(lengths.mean()) if self.size and lengths.sum() else 1.0
        norm = k1 * (1 - b + b * lengths / average)
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for row, tokens in enumerate(tokenized):
            for term, count in Counter(tokens).items():
                postings[term].append((row, count))
        self._postings: dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
        for term, entries in postings.items():
            rows = np.array([row for row, _ in entries], dtype=np.int64)
            tf = np.array([count for _, count in entries], dtype=np.float64)
            df = len(entries)
            idf = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
            self._postings[term] = (rows, idf * tf * (k1 + 1) / (tf + norm[rows]))

    def scores(self, query: str) -> NDArray[np.float64]:
        totals = np.zeros(self.size, dtype=np.float64)
        for term in tokenize(query):
            if term in self._postings:
                rows, weights = self._postings[term]
                totals[rows] += weights
        return totals
