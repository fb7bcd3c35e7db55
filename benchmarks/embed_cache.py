"""Embed a dataset once and keep its vectors for the clustering benchmarks.

Reads a CSV or JSONL file (one JSON object a line) with a text column and, optionally, a label and
a timestamp column; rows whose text is empty are skipped (labels and times stay aligned with the
vectors). The vectors (all-MiniLM-L6-v2 through `riskradar.embedding.SentenceEmbedder`, unit-norm
float32) are cached as `benchmarks/.cache/<key>.npy`, where the key hashes the file's bytes, the
text column and the model files, so editing the data or swapping the model never reuses stale
vectors. Labels and times are read from the file again on every load: that is cheap.

    .venv/bin/python benchmarks/embed_cache.py                        # Banking77 train (text, category)
    .venv/bin/python benchmarks/embed_cache.py reports.jsonl --text-column body \\
        --label-column theme --time-column created_at
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = ROOT / "benchmarks" / ".cache"
DEFAULT_DATASET = ROOT / "data" / "banking77" / "train.csv"
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "category"
# Bump when the way vectors are made changes (backend, normalisation): old cache files are ignored.
CACHE_FORMAT = "1"
EMBED_CHUNK = 1000


@dataclass(frozen=True)
class Dataset:
    """A dataset's texts (rows with text only) and, when asked for, their labels and times."""

    path: Path
    texts: list[str]
    labels: list[str] | None
    times: list[str] | None


@dataclass(frozen=True)
class EmbeddedDataset:
    dataset: Dataset
    #: (len(texts), 384) float32, unit rows, row i embeds dataset.texts[i].
    vectors: npt.NDArray[np.float32]
    cache_file: Path
    #: Seconds spent embedding now; 0.0 when the vectors came from the cache.
    embed_seconds: float


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset options shared by every clustering benchmark."""
    parser.add_argument(
        "dataset",
        nargs="?",
        type=Path,
        default=DEFAULT_DATASET,
        help="CSV or JSONL file (default: Banking77)",
    )
    parser.add_argument("--text-column", default=DEFAULT_TEXT_COLUMN)
    parser.add_argument(
        "--label-column",
        default=None,
        help=f"true labels, if any (default: {DEFAULT_LABEL_COLUMN!r} when the file has that column)",
    )
    parser.add_argument("--time-column", default=None, help="timestamps, if any (ISO 8601 strings)")


def read_dataset(
    path: Path, text_column: str, label_column: str | None = None, time_column: str | None = None
) -> Dataset:
    """Rows with a non-empty text. A missing label or time column is an error, not a silent None."""
    texts: list[str] = []
    labels: list[str] = []
    times: list[str] = []
    for line, row in enumerate(_rows(path), start=1):
        for column in (text_column, label_column, time_column):
            if column is not None and column not in row:
                raise SystemExit(f"{path}: row {line} has no column {column!r} (columns: {sorted(row)})")
        text = str(row[text_column] or "").strip()
        if not text:
            continue
        texts.append(text)
        if label_column is not None:
            labels.append(str(row[label_column]))
        if time_column is not None:
            times.append(str(row[time_column]))
    return Dataset(
        path,
        texts,
        labels if label_column is not None else None,
        times if time_column is not None else None,
    )


def has_column(path: Path, column: str) -> bool:
    first = next(_rows(path), None)
    return first is not None and column in first


def resolve_label_column(path: Path, label_column: str | None) -> str | None:
    """The label column asked for, or Banking77's `category` when the file happens to have it."""
    if label_column is not None:
        return label_column
    return DEFAULT_LABEL_COLUMN if has_column(path, DEFAULT_LABEL_COLUMN) else None


def load_embedded(
    path: Path,
    text_column: str = DEFAULT_TEXT_COLUMN,
    label_column: str | None = None,
    time_column: str | None = None,
    *,
    verbose: bool = True,
) -> EmbeddedDataset:
    """The dataset and its vectors, embedding (and caching) them only if no cache file matches."""
    dataset = read_dataset(path, text_column, label_column, time_column)
    from riskradar.embedding import SentenceEmbedder, resolve_model_path

    model_path = resolve_model_path(os.environ.get("EMBEDDING_MODEL_PATH"))
    cache_file = CACHE_DIR / f"{_cache_key(path, text_column, model_path)}.npy"
    if cache_file.is_file():
        vectors = np.load(cache_file)
        if vectors.shape[0] == len(dataset.texts):
            return EmbeddedDataset(dataset, vectors.astype(np.float32, copy=False), cache_file, 0.0)
    embedder = SentenceEmbedder(model_path)
    started = time.perf_counter()
    chunks = []
    for start in range(0, len(dataset.texts), EMBED_CHUNK):
        chunks.append(embedder.encode(dataset.texts[start : start + EMBED_CHUNK]))
        if verbose:
            done = min(start + EMBED_CHUNK, len(dataset.texts))
            print(f"  embedded {done:,}/{len(dataset.texts):,}", file=sys.stderr, end="\r")
    if verbose:
        print(file=sys.stderr)
    vectors = (
        np.concatenate(chunks).astype(np.float32) if chunks else np.empty((0, embedder.dimension), np.float32)
    )
    embed_seconds = time.perf_counter() - started
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = cache_file.with_name(f".{cache_file.stem}.{os.getpid()}.npy")
    np.save(partial, vectors)
    os.replace(partial, cache_file)  # never leave a half-written cache file under the real name
    return EmbeddedDataset(dataset, vectors, cache_file, embed_seconds)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise SystemExit(f"{path}:{number}: expected one JSON object a line")
                    yield row
    elif suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as file:
            yield from csv.DictReader(file, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise SystemExit(f"{path}: expected a .csv, .tsv or .jsonl file")


def _cache_key(path: Path, text_column: str, model_path: Path) -> str:
    digest = hashlib.sha256(f"format {CACHE_FORMAT}\ntext column {text_column}\n".encode())
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    # The model by its files' names, sizes and contents' fingerprint (size + first MiB): hashing all
    # weights would cost more than reading the cache.
    for model_file in sorted(p for p in model_path.rglob("*") if p.is_file()):
        digest.update(f"{model_file.relative_to(model_path)} {model_file.stat().st_size}\n".encode())
        with model_file.open("rb") as file:
            digest.update(file.read(1 << 20))
    return f"{path.stem}-{digest.hexdigest()[:20]}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataset_arguments(parser)
    args = parser.parse_args()
    label_column = resolve_label_column(args.dataset, args.label_column)
    embedded = load_embedded(args.dataset, args.text_column, label_column, args.time_column)
    state = f"embedded in {embedded.embed_seconds:.1f} s" if embedded.embed_seconds else "from the cache"
    print(
        f"{embedded.vectors.shape[0]:,} x {embedded.vectors.shape[1]} vectors {state}: {embedded.cache_file}"
    )


if __name__ == "__main__":
    main()
