"""Readable labels for themes: class-based TF-IDF keywords, a short label, example reports.

Keywords are c-TF-IDF, as in BERTopic: all texts of a theme are joined into one document (a
"class"), term frequencies are counted per class and L1-normalised, and each term is weighted by
``idf = log(1 + A / f_t)`` with ``A`` the average number of words per class and ``f_t`` the term's
frequency over all classes (counted per report and summed per class, so no bigram spans two
reports). A word frequent in one theme and rare elsewhere ranks high; a word common to every theme
("money", "account") ranks low. Unclustered reports (noise) are a class of their own for the idf —
they tell which words are everywhere — but get no keywords.

Tokens: unigrams and bigrams of two or more characters with at least one letter (numbers, amounts
and dates are not keywords). Redaction placeholders (``[EMAIL]``, ``[PHONE]``, ``[CARD]``,
``[IBAN]``, ``[SSN]``, ``[IP]`` and any other ``[UPPER_CASE]``) are removed before tokenising, so
"card" counts when a reporter wrote it and never because a card number was redacted. English stop
words are dropped: scikit-learn's list, plus filler it lacks ("does", "did", "just", "hi",
"thanks", "want", "need" …), minus words that carry meaning in reports ("top" as in top-up, "bill",
"call", "amount", "interest") and minus negations ("not", "never", "no", "cannot", "without";
"n't", "didnt" and the like are read as "not"): "never arrived" and "not received" are the point
of a report. A negation is a keyword only as the first word of a bigram. The vocabulary comes from
the individual reports with a ``min_df`` that grows with their number (``min_df_for``): a typo in
one report of ten thousand is not a keyword. A theme smaller than ``min_df`` keeps the terms found
in as many of its reports as it has (a young theme of 3 reports is labelled by its own words).

The label is made of the top keywords, in order: a bigram whose two words were both taken as
unigrams replaces them ("card", "stolen", "card stolen" → "card stolen"), a keyword whose words are
all taken already is skipped, and the label stops at ``label_terms`` keywords or
``LABEL_MAX_WORDS`` words, joined by ", ". Examples are the reports nearest the theme's centroid
(exact duplicates shown once).

Everything is deterministic: ties are broken by the term (alphabetically) or the report's position.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from riskradar.themes import Vectors

__all__ = [
    "NOISE",
    "ThemeLabel",
    "class_tfidf_keywords",
    "label_from_keywords",
    "label_themes",
    "min_df_for",
    "nearest_examples",
]

#: The cluster label of unclustered reports (as in scikit-learn's HDBSCAN / DBSCAN).
NOISE: Final = -1
DEFAULT_TOP_K: Final = 10
DEFAULT_LABEL_TERMS: Final = 3
DEFAULT_EXAMPLES: Final = 3
#: Examples longer than this are cut (with "…"): they are for a glance, the report is one click away.
MAX_EXAMPLE_CHARS: Final = 280
UNLABELLED: Final = "unlabelled theme"
LABEL_MAX_WORDS: Final = 5
#: Only the first keywords are considered for a label (twice the label's terms).
_LABEL_POOL_FACTOR: Final = 2

_NEGATIONS: Final = frozenset({"no", "not", "never", "cannot", "without"})
_FILLER: Final = frozenset(
    {"does", "did", "doing", "just", "ve", "ll", "im", "ok", "hi", "hello", "thanks", "thank", "want", "need"}
)
_MEANINGFUL: Final = frozenset({"top", "bill", "call", "amount", "interest"})
_CONTRACTIONS: Final = (
    (re.compile(r"\bcan['\u2019]?t\b"), "cannot"),
    (re.compile(r"\bwon['\u2019]t\b"), "will not"),
    # "didn't", "hasnt", also with a typographic apostrophe: the verb is a stop word, "not" counts.
    (re.compile(r"\b(?:do|does|did|is|was|were|are|has|have|had|could|would|should)n['\u2019]?t\b"), "not"),
)


def _expand_negations(text: str) -> str:
    for contraction, expansion in _CONTRACTIONS:
        text = contraction.sub(expansion, text)
    return text


# "cant", "hasnt" … are negations here, not stop words: what the preprocessor makes of them counts.
_STOP_WORDS: Final = sorted(
    word
    for word in (ENGLISH_STOP_WORDS | _FILLER) - _NEGATIONS - _MEANINGFUL
    if _expand_negations(word) == word
)

# Redaction placeholders (riskradar.redaction) and any future ones of the same shape.
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]*\]")


@functools.cache
def _token_pattern() -> str:
    """Built on first use, not at import (the novelty function imports this module and labels
    nothing). Two or more word characters, at least one of them a letter: "3ds" stays, "2026" and "10.50"
    go. Combining marks count as word characters: Python's `\\w` leaves out the vowel signs of
    Hindi, Thai and other scripts, which cut "कार्ड" (card) into fragments."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):  # the marks of the Basic Multilingual Plane
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    marks = "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)
    word = f"\\w{marks}"
    return f"(?<![{word}])(?=[{word}]*[^\\W\\d_])[{word}]{{2,}}(?![{word}])"


@dataclass(frozen=True)
class ThemeLabel:
    cluster: int
    #: Best first, with their c-TF-IDF weights.
    keywords: tuple[tuple[str, float], ...]
    label: str
    examples: tuple[str, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(term for term, _ in self.keywords)


def min_df_for(n_reports: int) -> int:
    """Reports a term must appear in to be a keyword: 1 up to 1,500 reports, then 1 per 1,000, at most 5."""
    return max(1, min(5, round(n_reports / 1000)))


def class_tfidf_keywords(
    texts_per_class: Sequence[Sequence[str]],
    *,
    top_k: int = DEFAULT_TOP_K,
    background: Sequence[str] = (),
    min_df: int | None = None,
) -> list[tuple[tuple[str, float], ...]]:
    """The top `top_k` c-TF-IDF keywords of each class (texts of one theme each), best first.

    `background` texts (e.g. unclustered reports) count for the idf only. Terms with no weight are
    left out, so a class may get fewer than `top_k` keywords (none if all its words are stop words).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    classes = [list(texts) for texts in texts_per_class]
    if background:
        classes.append(list(background))
    reports = [text for texts in classes for text in texts]
    empty: list[tuple[tuple[str, float], ...]] = [() for _ in texts_per_class]
    if not reports:
        return empty
    vectorizer = CountVectorizer(
        preprocessor=_preprocess,
        token_pattern=_token_pattern(),
        stop_words=_STOP_WORDS,
        ngram_range=(1, 2),
    )
    try:
        per_report = sparse.csr_matrix(vectorizer.fit_transform(reports), dtype=np.float64)
    except ValueError:  # no term survives (only stop words, numbers, placeholders)
        return empty
    # Summing the reports' counts per class is counting the joined document, minus the bigrams
    # that joining would invent across the end of one report and the start of the next.
    sizes = np.array([len(texts) for texts in classes])
    class_of_report = np.repeat(np.arange(len(classes)), sizes)
    membership = sparse.csr_matrix(
        (np.ones(len(reports)), (class_of_report, np.arange(len(reports)))),
        shape=(len(classes), len(reports)),
    )
    keep = _frequent_enough(
        per_report, membership, sizes, min_df or min_df_for(len(reports)), bool(background)
    )
    if not keep.any():
        return empty
    counts = sparse.csr_matrix(membership @ per_report[:, keep])
    weights = _class_tfidf(counts)
    terms = vectorizer.get_feature_names_out()[keep]
    return [_top_terms(weights[row], terms, top_k) for row in range(len(texts_per_class))]


def label_from_keywords(
    keywords: Sequence[str], *, max_terms: int = DEFAULT_LABEL_TERMS, max_words: int = LABEL_MAX_WORDS
) -> str:
    """A short label from the best keywords (rules in the module docstring)."""
    chosen: list[str] = []
    for keyword in keywords[: max_terms * _LABEL_POOL_FACTOR]:
        words = keyword.split()
        unigrams = [term for term in chosen if " " not in term]
        if len(words) > 1 and set(words) <= set(unigrams):
            first = min(chosen.index(word) for word in words)
            chosen = [term for term in chosen if term not in words]
            chosen.insert(first, keyword)
            continue
        if set(words) <= {word for term in chosen for word in term.split()}:
            continue
        # A keyword containing a unigram already taken takes its place ("arrived" → "never arrived").
        replaced = [index for index, term in enumerate(chosen) if term in words]
        kept = [term for term in chosen if term not in words]
        if len(kept) < max_terms and sum(len(term.split()) for term in kept) + len(words) <= max_words:
            kept.insert(replaced[0] if replaced else len(kept), keyword)
            chosen = kept
    return ", ".join(chosen) if chosen else UNLABELLED


def nearest_examples(
    vectors: Vectors, texts: Sequence[str], centroid: Vectors, *, count: int = DEFAULT_EXAMPLES
) -> tuple[str, ...]:
    """The `count` texts whose vectors are nearest `centroid` (cosine), each distinct text once."""
    if len(vectors) != len(texts):
        raise ValueError(f"{len(vectors)} vectors but {len(texts)} texts")
    if not texts:
        return ()
    similarity = _cosine_to(np.asarray(vectors, dtype=np.float64), np.asarray(centroid, dtype=np.float64))
    # Stable sort: equally near reports keep their order.
    order = np.argsort(-similarity, kind="stable")
    examples: list[str] = []
    seen: set[str] = set()
    for index in order:
        text = " ".join(texts[int(index)].split())
        if text.casefold() in seen:
            continue
        seen.add(text.casefold())
        examples.append(text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 1] + "…")
        if len(examples) == count:
            break
    return tuple(examples)


def label_themes(
    texts: Sequence[str],
    vectors: Vectors,
    clusters: Sequence[int] | npt.NDArray[np.integer],
    centroids: Vectors,
    *,
    top_k: int = DEFAULT_TOP_K,
    label_terms: int = DEFAULT_LABEL_TERMS,
    examples: int = DEFAULT_EXAMPLES,
) -> list[ThemeLabel]:
    """Keywords, label and examples for each cluster 0 … len(centroids) - 1.

    `clusters[i]` is the cluster of report i (`NOISE` for none), `vectors[i]` its embedding and
    `centroids[c]` the centroid of cluster c.
    """
    cluster_of = np.asarray(clusters, dtype=np.int64)
    if not len(texts) == len(vectors) == len(cluster_of):
        raise ValueError(f"{len(texts)} texts, {len(vectors)} vectors and {len(cluster_of)} cluster labels")
    if len(cluster_of) and (cluster_of.min() < NOISE or cluster_of.max() >= len(centroids)):
        raise ValueError(f"cluster labels must be in [{NOISE}, {len(centroids) - 1}]")
    members = [[int(i) for i in np.flatnonzero(cluster_of == cluster)] for cluster in range(len(centroids))]
    keywords = class_tfidf_keywords(
        [[texts[i] for i in rows] for rows in members],
        top_k=top_k,
        background=[texts[int(i)] for i in np.flatnonzero(cluster_of == NOISE)],
    )
    vector_array = np.asarray(vectors)
    return [
        ThemeLabel(
            cluster=cluster,
            keywords=keywords[cluster],
            label=label_from_keywords([term for term, _ in keywords[cluster]], max_terms=label_terms),
            examples=nearest_examples(
                vector_array[rows], [texts[i] for i in rows], centroids[cluster], count=examples
            ),
        )
        for cluster, rows in enumerate(members)
    ]


def _preprocess(text: str) -> str:
    return _expand_negations(_PLACEHOLDER.sub(" ", text).lower())


def _frequent_enough(
    per_report: sparse.csr_matrix,
    membership: sparse.csr_matrix,
    sizes: npt.NDArray[np.int64],
    min_df: int,
    has_background: bool,
) -> npt.NDArray[np.bool_]:
    """Terms in at least `min_df` reports, or in as many of one theme's reports as that theme has
    up to `min_df`: a young theme of 3 reports keeps the words only it uses (a window-wide min_df
    of 5 gave it another theme's words as its label, and its emerging alert with them)."""
    present = per_report.copy()
    present.data[:] = 1.0
    in_reports = np.asarray(present.sum(axis=0)).ravel()
    in_class = sparse.csr_matrix(membership @ present)
    needed = np.minimum(min_df, sizes).astype(np.float64)
    if has_background:  # the unclustered reports are no theme: the window-wide bar applies
        needed[-1] = min_df
    rows = np.repeat(np.arange(in_class.shape[0]), np.diff(in_class.indptr))
    concentrated = np.zeros(per_report.shape[1], dtype=np.bool_)
    concentrated[in_class.indices[in_class.data >= needed[rows]]] = True
    result: npt.NDArray[np.bool_] = (in_reports >= min_df) | concentrated
    return result


def _class_tfidf(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """BERTopic's ClassTfidfTransformer: L1-normalised term frequency per class * log(1 + A / f_t)."""
    term_totals = np.asarray(counts.sum(axis=0)).ravel()
    class_totals = np.asarray(counts.sum(axis=1)).ravel()
    average_words = class_totals.mean()
    with np.errstate(divide="ignore"):
        idf = np.where(term_totals > 0, np.log1p(average_words / np.maximum(term_totals, 1e-12)), 0.0)
    row_scale = np.divide(1.0, class_totals, out=np.zeros_like(class_totals), where=class_totals > 0)
    weighted: sparse.csr_matrix = sparse.diags(row_scale) @ counts @ sparse.diags(idf)
    return sparse.csr_matrix(weighted)


def _top_terms(
    row: sparse.csr_matrix, terms: npt.NDArray[np.str_], top_k: int
) -> tuple[tuple[str, float], ...]:
    dense = np.asarray(row.toarray()).ravel()
    present = [index for index in np.flatnonzero(dense > 0) if _is_keyword(str(terms[index]))]
    # Highest weight first; equal weights alphabetically (terms are sorted, so by index).
    ranked = sorted(present, key=lambda index: (-round(float(dense[index]), 12), int(index)))[:top_k]
    return tuple((str(terms[index]), round(float(dense[index]), 6)) for index in ranked)


def _cosine_to(
    vectors: npt.NDArray[np.float64], centroid: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(centroid)), 1e-12)
    similarity: npt.NDArray[np.float64] = (vectors @ centroid) / np.maximum(norms, 1e-12)
    return similarity


def _is_keyword(term: str) -> bool:
    """Not a negation alone, nor a bigram ending in one ("transfer not"): "not received" is fine."""
    return term.rsplit(" ", 1)[-1] not in _NEGATIONS
