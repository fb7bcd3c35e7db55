"""The novelty function's image has no ML stack (functions/novelty/Dockerfile installs numpy, scipy and
scikit-learn, not torch nor the model): nothing on its import path may need one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_THE_IMAGE = ("torch", "sentence_transformers", "transformers", "onnxruntime", "onnx", "tqdm")


def test_novelty_handler_imports_nothing_its_image_lacks() -> None:
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions/novelty/app.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"print(json.dumps(sorted(m for m in {NOT_IN_THE_IMAGE!r} if m in sys.modules)))\n"
    )
    env = {
        **os.environ,
        "ARTIFACTS_BUCKET": "artifacts",
        "ALERTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/alerts",
        "NOVELTY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/novelty.fifo",
        "NOVELTY_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/novelty-dlq.fifo",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
