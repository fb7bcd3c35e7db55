"""Cold import time of the intake handler (goal: <= 300 ms on the reference machine).

Each sample is a fresh interpreter that imports functions/intake/app.py with the function's
environment, as a Lambda cold start does before the first request. We report the import alone
(measured inside the child, so interpreter start-up is excluded) and the whole process.

    .venv/bin/python benchmarks/intake_cold_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("torch", "sentence_transformers", "sklearn", "transformers", "numpy")
CHILD = """
import importlib.util, json, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
heavy = sorted(m for m in sys.argv[2].split(",") if m in sys.modules)
print(json.dumps({"import_s": elapsed, "heavy": heavy}))
"""

FUNCTION_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "riskradar",
    "POWERTOOLS_METRICS_NAMESPACE": "RiskRadar",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "INTAKE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/riskradar-intake-dev",
    "IDEMPOTENCY_TABLE": "riskradar-idempotency-dev",
    "ALLOWED_BUSINESSES": "shop,live,payments,ads",
    "ID_HASH_KEY_PARAMETER": "/riskradar/dev/id-hash-key",
}


def measure_once() -> tuple[float, float, list[str]]:
    env = {**os.environ, **FUNCTION_ENV}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "functions" / "intake" / "app.py"), ",".join(HEAVY_MODULES)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    process_s = time.perf_counter() - started
    child = json.loads(result.stdout.strip().splitlines()[-1])
    return float(child["import_s"]), process_s, list(child["heavy"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    measure_once()  # warm the OS page cache, as a warm Lambda host would have it
    samples = [measure_once() for _ in range(args.runs)]
    imports = [s[0] * 1000 for s in samples]
    processes = [s[1] * 1000 for s in samples]
    heavy = sorted({m for s in samples for m in s[2]})
    print(f"intake handler cold import over {args.runs} fresh interpreters")
    print(f"  import only : median {statistics.median(imports):6.0f} ms   p90 {_p90(imports):6.0f} ms")
    print(f"  whole start : median {statistics.median(processes):6.0f} ms   p90 {_p90(processes):6.0f} ms")
    print(f"  heavy ML modules imported: {', '.join(heavy) if heavy else 'none'}")
    goal_met = statistics.median(imports) <= 300 and not heavy
    print(f"  goal (<= 300 ms import, no ML modules): {'met' if goal_met else 'NOT met'}")


def _p90(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.9) - 1)]


if __name__ == "__main__":
    main()
