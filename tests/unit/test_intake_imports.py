"""The intake function must stay light: no ML stack on its import path (cold start, zip size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "sentence_transformers", "sklearn", "transformers", "scipy", "numpy")


def test_intake_handler_imports_no_ml_modules() -> None:
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions/intake/app.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"print(json.dumps(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    env = {
        **os.environ,
        "INTAKE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "IDEMPOTENCY_TABLE": "t",
        "ALLOWED_BUSINESSES": "shop",
        "ID_HASH_KEY_PARAMETER": "/k",
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
