"""Theme quality: riskradar's clustering against BERTopic, on the same embeddings.

Any CSV or JSONL with a text column works; labels are optional (without them NMI / ARI are left
blank), and a timestamp column, if given, orders the rows so that `--last N` keeps the most recent
N — the window the recluster job would see. Default: Banking77 train (text, category).

Every method runs in a fresh subprocess on vectors embedded once (benchmarks/embed_cache.py), so
its wall time and peak RSS are its own (RSS includes the interpreter, the method's imports and the
vectors). Methods:

- `riskradar`: `riskradar.clustering.cluster_embeddings` with its defaults, on the whole set and,
  to check that nothing is tuned to one sample, on two random halves and on the rows shuffled.
- `bertopic`: BERTopic 0.17 with its defaults (UMAP to 5-d + HDBSCAN, min_topic_size=10) given the
  precomputed embeddings, then `reduce_outliers(strategy="embeddings")`; both rows are reported.
  Its time includes numba's JIT compilation, which every fresh process pays. Needs
  requirements-bench.txt (`make bench-cluster` installs it); skipped with a note when missing.
- `pca-hdbscan` (optional): PCA to 32-d + sklearn HDBSCAN (min_cluster_size=10, min_samples=5),
  outliers reassigned to the nearest cluster centroid — the other pipeline measured.

NMI and ARI count outliers (label -1) as one cluster, as model.md does.

    .venv/bin/python benchmarks/cluster_quality.py
    .venv/bin/python benchmarks/cluster_quality.py reports.jsonl --text-column body --label-column theme \\
        --time-column created_at --last 20000 --methods riskradar,bertopic
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed_cache import add_dataset_arguments, load_embedded, resolve_label_column

METHODS = ("riskradar", "bertopic", "pca-hdbscan")
DEFAULT_METHODS = "riskradar,bertopic"
VARIANTS = ("full", "half A", "half B", "shuffled")
# Goals of the issue: at least BERTopic's NMI (after reduce_outliers), at least 5x faster.
SPEEDUP_GOAL = 5.0


@dataclass(frozen=True)
class Run:
    """One method on one variant of the data, measured in its own process."""

    method: str
    variant: str
    n: int
    labels: npt.NDArray[np.int64]
    fit_seconds: float
    cpu_seconds: float
    peak_rss_mb: float


# --------------------------------------------------------------------------- child process


def child_main(spec: dict[str, Any]) -> None:
    """Runs one method inside the measured subprocess; writes labels, prints timings as JSON."""
    vectors = np.load(spec["vectors"])
    method = spec["method"]
    results: list[dict[str, Any]] = []
    if method == "riskradar":
        # Imported before the clock starts, as BERTopic's are: the fit is timed, not the imports.
        importlib.import_module("scipy.cluster.hierarchy")
        importlib.import_module("sklearn.cluster")
        importlib.import_module("sklearn.decomposition")
        from riskradar.clustering import cluster_embeddings

        started, cpu_started = time.perf_counter(), cpu_seconds()
        result = cluster_embeddings(vectors, seed=spec["seed"])
        results.append(
            {
                "name": "",
                "labels": result.labels,
                "seconds": time.perf_counter() - started,
                "cpu_seconds": cpu_seconds() - cpu_started,
            }
        )
    elif method == "bertopic":
        results.extend(_run_bertopic(vectors, json.loads(Path(spec["texts"]).read_text())))
    elif method == "pca-hdbscan":
        results.append(_run_pca_hdbscan(vectors, spec["seed"]))
    else:
        raise SystemExit(f"unknown method {method!r}")
    output = []
    for index, item in enumerate(results):
        path = f"{spec['labels_prefix']}{index}.npy"
        np.save(path, np.asarray(item["labels"], dtype=np.int64))
        output.append({**item, "labels": path})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"runs": output, "peak_rss_mb": peak_mb}))


def _run_bertopic(vectors: npt.NDArray[np.float32], texts: list[str]) -> list[dict[str, Any]]:
    bertopic: Any = importlib.import_module("bertopic")
    started, cpu_started = time.perf_counter(), cpu_seconds()
    model = bertopic.BERTopic()  # the defaults, on purpose
    topics, _ = model.fit_transform(texts, embeddings=vectors)
    fitted, cpu_fitted = time.perf_counter(), cpu_seconds()
    reduced = model.reduce_outliers(texts, topics, strategy="embeddings", embeddings=vectors)
    done, cpu_done = time.perf_counter(), cpu_seconds()
    return [
        {
            "name": "defaults",
            "labels": topics,
            "seconds": fitted - started,
            "cpu_seconds": cpu_fitted - cpu_started,
        },
        {
            "name": '+ reduce_outliers("embeddings")',
            "labels": reduced,
            "seconds": done - started,
            "cpu_seconds": cpu_done - cpu_started,
        },
    ]


def _run_pca_hdbscan(vectors: npt.NDArray[np.float32], seed: int) -> dict[str, Any]:
    from sklearn.cluster import HDBSCAN
    from sklearn.decomposition import PCA

    started, cpu_started = time.perf_counter(), cpu_seconds()
    reduced = PCA(32, random_state=seed).fit_transform(vectors)
    labels = HDBSCAN(min_cluster_size=10, min_samples=5, copy=True).fit_predict(reduced)
    clustered = labels >= 0
    if clustered.any():
        sums = np.zeros((labels.max() + 1, vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, labels[clustered], vectors[clustered])
        centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        labels[~clustered] = (vectors[~clustered] @ centroids.T).argmax(axis=1)
    return {
        "name": "",
        "labels": labels,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds() - cpu_started,
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads): unlike wall time, barely moved
    by other processes competing for the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- parent


def run_in_subprocess(spec: dict[str, Any], script: Path) -> dict[str, Any]:
    """Run `script --child SPEC` in a fresh interpreter and return what it printed (JSON)."""
    completed = subprocess.run(
        [sys.executable, str(script), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{spec.get('method')} failed:\n{completed.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return answer


def measure(
    method: str,
    variant: str,
    vectors: npt.NDArray[np.float32],
    texts: Sequence[str],
    seed: int,
    workdir: Path,
) -> list[Run]:
    slug = f"{method}-{variant.replace(' ', '_')}"
    vectors_file = workdir / f"{slug}.npy"
    np.save(vectors_file, vectors)
    spec: dict[str, Any] = {
        "method": method,
        "vectors": str(vectors_file),
        "seed": seed,
        "labels_prefix": str(workdir / f"{slug}-labels-"),
    }
    if method == "bertopic":
        texts_file = workdir / f"{slug}.json"
        texts_file.write_text(json.dumps(list(texts)))
        spec["texts"] = str(texts_file)
    answer = run_in_subprocess(spec, Path(__file__).resolve())
    return [
        Run(
            method=f"{method} {item['name']}".strip(),
            variant=variant,
            n=vectors.shape[0],
            labels=np.load(item["labels"]),
            fit_seconds=float(item["seconds"]),
            cpu_seconds=float(item["cpu_seconds"]),
            peak_rss_mb=float(answer["peak_rss_mb"]),
        )
        for item in answer["runs"]
    ]


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for package in ("numpy", "scikit-learn", "scipy", "bertopic", "umap-learn", "hdbscan"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return (
        f"{os.cpu_count()} cores ({cpu}), {_memory_gb():.0f} GB, Python {platform.python_version()}, "
        + ", ".join(versions)
    )


def _memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        return float("nan")


def scores(truth: npt.NDArray[Any] | None, labels: npt.NDArray[np.int64]) -> tuple[str, str]:
    if truth is None:
        return "", ""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return (
        f"{normalized_mutual_info_score(truth, labels):.3f}",
        f"{adjusted_rand_score(truth, labels):.3f}",
    )


def markdown_table(runs: Sequence[Run], truth_of: dict[str, npt.NDArray[Any] | None]) -> str:
    lines = [
        "| method | data | reports | themes | outliers | NMI | ARI | wall time | CPU time | peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        themes = len(np.unique(run.labels[run.labels >= 0]))
        outliers = float(np.mean(run.labels < 0)) if run.n else 0.0
        nmi, ari = scores(truth_of[run.variant], run.labels)
        lines.append(
            f"| {run.method} | {run.variant} | {run.n:,} | {themes} | {outliers:.3f} | {nmi} | {ari} "
            f"| {run.fit_seconds:.1f} s | {run.cpu_seconds:.1f} s | {run.peak_rss_mb:,.0f} MB |"
        )
    return "\n".join(lines)


def variants(n: int, seed: int, wanted: Sequence[str]) -> dict[str, npt.NDArray[np.int64]]:
    """Row indices of each variant: the whole set, two disjoint random halves, a shuffle."""
    permutation = np.random.default_rng(seed + 1).permutation(n).astype(np.int64)
    every = {
        "full": np.arange(n, dtype=np.int64),
        "half A": np.sort(permutation[: n // 2]),
        "half B": np.sort(permutation[n // 2 :]),
        "shuffled": permutation,
    }
    return {name: every[name] for name in wanted}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "--methods", default=DEFAULT_METHODS, help=f"comma-separated, of {', '.join(METHODS)}"
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="riskradar runs on each; the others on 'full' only"
    )
    parser.add_argument("--last", type=int, default=None, help="keep only the last N rows (by time if given)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run each method this many times on 'full' (fresh processes) and keep the run of median "
        "wall time: timings on shared 2-core machines swing by 2-3x from minute to minute",
    )
    args = parser.parse_args()

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
    for name in methods:
        if name not in METHODS:
            parser.error(f"unknown method {name!r}")
    for name in wanted:
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")
    label_column = resolve_label_column(args.dataset, args.label_column)
    embedded = load_embedded(args.dataset, args.text_column, label_column, args.time_column)
    dataset, vectors = embedded.dataset, embedded.vectors
    rows = np.arange(vectors.shape[0], dtype=np.int64)
    if dataset.times is not None:
        rows = np.asarray(sorted(rows.tolist(), key=dataset.times.__getitem__), dtype=np.int64)
    if args.last is not None:
        rows = rows[-args.last :]
    labels = np.asarray(dataset.labels, dtype=object)[rows] if dataset.labels is not None else None
    print(
        f"{args.dataset} ({len(rows):,} reports{', labelled' if labels is not None else ''})", file=sys.stderr
    )

    if "bertopic" in methods and importlib.util.find_spec("bertopic") is None:
        print(
            "bertopic is not installed (pip install -r requirements-bench.txt): skipped; compare with "
            "the reference numbers in docs/model.md instead",
            file=sys.stderr,
        )
        methods.remove("bertopic")

    runs: list[Run] = []
    truth_of: dict[str, npt.NDArray[Any] | None] = {}
    with tempfile.TemporaryDirectory(prefix="cluster-quality-") as tmp:
        for variant, indices in variants(len(rows), args.seed, wanted).items():
            truth_of[variant] = labels[indices] if labels is not None else None
            for method in methods:
                if method != "riskradar" and variant != "full":
                    continue
                print(f"  {method} on {variant} ...", file=sys.stderr)
                subset = np.ascontiguousarray(vectors[rows[indices]])
                texts = [dataset.texts[row] for row in rows[indices]]
                repeats = args.repeats if variant == "full" else 1
                trials = [
                    measure(method, variant, subset, texts, args.seed, Path(tmp)) for _ in range(repeats)
                ]
                trials.sort(key=lambda trial: trial[-1].fit_seconds)
                runs.extend(trials[len(trials) // 2])

    print(f"\nMachine: {machine_description()}\n")
    print(markdown_table(runs, truth_of))
    _print_goals(runs, truth_of)


def _print_goals(runs: Sequence[Run], truth_of: dict[str, npt.NDArray[Any] | None]) -> None:
    ours = next((r for r in runs if r.method == "riskradar" and r.variant == "full"), None)
    reference = next((r for r in runs if r.method.startswith("bertopic +")), None)
    if ours is None or reference is None:
        return
    speedup = reference.fit_seconds / ours.fit_seconds if ours.fit_seconds else float("inf")
    cpu_speedup = reference.cpu_seconds / ours.cpu_seconds if ours.cpu_seconds else float("inf")
    print(
        f"\nriskradar vs BERTopic (+ reduce_outliers): {speedup:.1f}x faster in wall time "
        f"(goal >= {SPEEDUP_GOAL:.0f}x), {cpu_speedup:.1f}x less CPU time"
    )
    truth = truth_of["full"]
    if truth is not None:
        from sklearn.metrics import normalized_mutual_info_score

        ours_nmi = normalized_mutual_info_score(truth, ours.labels)
        reference_nmi = normalized_mutual_info_score(truth, reference.labels)
        verdict = "met" if ours_nmi >= reference_nmi and speedup >= SPEEDUP_GOAL else "NOT met"
        print(f"NMI {ours_nmi:.3f} vs {reference_nmi:.3f}: goals {verdict}")


if __name__ == "__main__":
    main()
