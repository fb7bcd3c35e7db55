"""How the recluster clustering scales: 10k, 50k and 100k reports (goal: 100k in <= 60 s and
<= 2 GB peak RSS on the 2-core reference machine).

The reports are a dataset's embeddings (default Banking77 train, embedded once by
benchmarks/embed_cache.py) resampled with replacement to each size, each copy moved by Gaussian
noise of norm --noise (0.2: cosine ~0.98 to its source) and renormalised, so larger windows keep
the dataset's themes without being exact duplicates. Each size runs in a fresh subprocess, so the
peak RSS is that of a recluster process: the interpreter, numpy / scikit-learn / scipy, the
vectors (n x 384 float32: 154 MB at 100k) and the clustering. NMI is against the source rows'
labels, as a sanity check that quality holds with size.

`--threads` also runs each size with other BLAS / OpenMP thread settings ("default": one per core)
to re-check ClusteringConfig.threads on the machine at hand.

`--warm` measures the recluster job's usual run instead: warm-started from the previous run. Each
size then samples `--churn` (5 %) more rows; the previous run (cold, in this process, not measured)
clusters the first n, and the measured subprocess reads its state back from the bytes the job
stores (`clustering.npz`) and clusters the last n — `--churn` of them new.

    .venv/bin/python benchmarks/cluster_scale.py
    .venv/bin/python benchmarks/cluster_scale.py --sizes 10000,100000 --threads 1,default
    .venv/bin/python benchmarks/cluster_scale.py --warm
    .venv/bin/python benchmarks/cluster_scale.py --json out/cluster_scale.json   # for cost_model.py
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_quality import cpu_seconds, machine_description, run_in_subprocess
from embed_cache import add_dataset_arguments, load_embedded, resolve_label_column

GOAL_SECONDS = 60.0
GOAL_RSS_MB = 2048.0
GOAL_SIZE = 100_000


def child_main(spec: dict[str, Any]) -> None:
    """Inside the measured subprocess: load the vectors, cluster them, report time and memory."""
    if "previous_state" in spec:
        previous_child(spec)
        return
    for module in ("scipy.cluster.hierarchy", "sklearn.cluster", "sklearn.decomposition"):
        importlib.import_module(module)  # before the clock starts: the fit is timed, not the imports
    from riskradar.adapters.s3 import clustering_state_from_npz
    from riskradar.clustering import ClusteringConfig, cluster_embeddings

    vectors = np.load(spec["vectors"])
    previous = new_rows = None
    if spec.get("state"):
        previous = clustering_state_from_npz(Path(spec["state"]).read_bytes())
        new_rows = np.load(spec["new_rows"])
    loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    config = ClusteringConfig(threads=spec["threads"])
    started, cpu_started = time.perf_counter(), cpu_seconds()
    result = cluster_embeddings(vectors, config, seed=spec["seed"], previous=previous, new_rows=new_rows)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    np.save(spec["labels"], result.labels)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds, "cpu_seconds": cpu, "loaded_rss_mb": loaded_mb, "peak_rss_mb": peak_mb}
        )
    )


def resample(
    vectors: npt.NDArray[np.float32], size: int, noise: float, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """`size` noisy unit copies of random rows of `vectors`, and which row each copy came from."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, vectors.shape[0], size=size).astype(np.int64)
    sample = vectors[source].copy()
    sample += rng.standard_normal(sample.shape, dtype=np.float32) * np.float32(
        noise / np.sqrt(sample.shape[1])
    )
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    return sample, source


def previous_run(vectors: npt.NDArray[np.float32], churn: int, prefix: Path, seed: int) -> dict[str, str]:
    """Cluster the previous window (cold, in a subprocess of its own: a fork of a big parent would
    inflate the measured child's peak RSS) and store what the warm run needs: the state, as the
    recluster job stores it, and which rows of the next window are new (its last `churn`)."""
    print(f"  {len(vectors):,} reports, the previous run (cold, not measured) ...", file=sys.stderr)
    vectors_file, state_file = prefix.with_suffix(".npy"), prefix.with_suffix(".npz")
    new_rows_file = prefix.with_name(f"{prefix.name}-new.npy")
    np.save(vectors_file, vectors)
    run_in_subprocess(
        {"vectors": str(vectors_file), "previous_state": str(state_file), "seed": seed},
        Path(__file__).resolve(),
    )
    vectors_file.unlink()
    np.save(new_rows_file, np.arange(len(vectors)) >= len(vectors) - churn)
    return {"state": str(state_file), "new_rows": str(new_rows_file)}


def previous_child(spec: dict[str, Any]) -> None:
    from riskradar.adapters.s3 import clustering_state_npz
    from riskradar.clustering import cluster_embeddings

    state = cluster_embeddings(np.load(spec["vectors"]), seed=spec["seed"]).state
    Path(spec["previous_state"]).write_bytes(clustering_state_npz(state))
    print(json.dumps({}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataset_arguments(parser)
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--noise", type=float, default=0.2, help="norm of the noise added to each copy")
    parser.add_argument(
        "--threads", default="1", help='comma-separated thread settings: numbers or "default"'
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm", action="store_true", help="measure a run warm-started from the previous")
    parser.add_argument("--churn", type=float, default=0.05, help="--warm: share of new reports")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    threads: list[int | None] = [None if t.strip() == "default" else int(t) for t in args.threads.split(",")]

    label_column = resolve_label_column(args.dataset, args.label_column)
    embedded = load_embedded(args.dataset, args.text_column, label_column)
    truth = np.asarray(embedded.dataset.labels, dtype=object) if embedded.dataset.labels is not None else None

    rows = []
    with tempfile.TemporaryDirectory(prefix="cluster-scale-") as tmp:
        for size in sizes:
            churn = round(size * args.churn) if args.warm else 0
            sample, source = resample(embedded.vectors, size + churn, args.noise, args.seed)
            warm_spec = {}
            if args.warm:
                warm_spec = previous_run(sample[:size], churn, Path(tmp) / f"state-{size}", args.seed)
                sample, source = sample[churn:], source[churn:]
            vectors_file = Path(tmp) / f"vectors-{size}.npy"
            np.save(vectors_file, sample)
            del sample
            for setting in threads:
                print(f"  {size:,} reports, threads={setting or 'default'} ...", file=sys.stderr)
                labels_file = Path(tmp) / f"labels-{size}.npy"
                spec = {
                    "vectors": str(vectors_file),
                    "labels": str(labels_file),
                    "threads": setting,
                    "seed": args.seed,
                    **warm_spec,
                }
                answer = run_in_subprocess(spec, Path(__file__).resolve())
                labels = np.load(labels_file)
                rows.append((size, setting, answer, labels, truth[source] if truth is not None else None))

    print(f"\nMachine: {machine_description()}\n")
    if args.warm:
        print(
            f"Warm-started runs: each window shares {1 - args.churn:.0%} of its reports with the previous.\n"
        )
    print(
        "| reports | threads | themes | left out | NMI | wall time | CPU time | RSS after load | peak RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, setting, answer, labels, expected in rows:
        nmi = ""
        if expected is not None:
            from sklearn.metrics import normalized_mutual_info_score

            nmi = f"{normalized_mutual_info_score(expected, labels):.3f}"
        themes = len(np.unique(labels[labels >= 0]))
        print(
            f"| {size:,} | {setting or 'default'} | {themes} | {np.mean(labels < 0):.3f} | {nmi} "
            f"| {answer['seconds']:.1f} s | {answer['cpu_seconds']:.1f} s "
            f"| {answer['loaded_rss_mb']:,.0f} MB | {answer['peak_rss_mb']:,.0f} MB |"
        )
    # The goal is judged on the configuration the recluster job runs: the default thread setting.
    from riskradar.clustering import DEFAULT_CONFIG

    if args.json:
        measured = [
            {
                "reports": size,
                "threads": setting,
                "default_config": setting == DEFAULT_CONFIG.threads,
                "themes": len(np.unique(labels[labels >= 0])),
                **answer,
            }
            for size, setting, answer, labels, _ in rows
        ]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"machine": machine_description(), "noise": args.noise, "runs": measured}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    at_goal = [a for size, t, a, _, _ in rows if size == GOAL_SIZE and t == DEFAULT_CONFIG.threads]
    if at_goal:
        met = all(a["seconds"] <= GOAL_SECONDS and a["peak_rss_mb"] <= GOAL_RSS_MB for a in at_goal)
        print(
            f"\n{GOAL_SIZE:,} reports (default config) in <= {GOAL_SECONDS:.0f} s and "
            f"<= {GOAL_RSS_MB / 1024:.0f} GB peak RSS: {'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
