"""Nothing personal reaches a log: the demo, run on reports full of PII, logs and prints none of it.

Every function's output (Powertools' JSON logs included) is captured as the local stack routes it
(`aws.lambda.<function>` loggers), with the local stack's own log, the demo's printout and anything
written to stdout or stderr. The planted values are checked against all of it.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import pytest

from riskradar.demo import DemoOptions, run_demo
from riskradar.local.defaults import LOCAL_ID_HASH_KEY, PROJECT_ROOT
from tests.pii_corpus import pii_corpus, reports_with_pii

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def write_dataset(path: Path) -> int:
    """The PII reports among ordinary ones, so that the recluster job has themes to find; returns
    how many rows it wrote."""
    with (PROJECT_ROOT / "data" / "banking77" / "train.csv").open(encoding="utf-8") as source:
        ordinary = [row["text"] for row in csv.DictReader(source)][::60]
    with path.open("w", encoding="utf-8", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["text"])
        texts = [*reports_with_pii(), *ordinary]
        for text in texts:
            writer.writerow([text])
    return len(texts)


def test_the_demo_logs_and_prints_no_personal_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "reports.csv"
    rows = write_dataset(dataset)
    caplog.set_level(logging.DEBUG)
    printed = io.StringIO()

    summary = run_demo(
        DemoOptions(dataset=dataset, label_column=None, emerging_label=None, stage="piilogs"), out=printed
    )

    captured = capfd.readouterr()
    everything = "\n".join([caplog.text, printed.getvalue(), captured.out, captured.err])
    # The capture is real: the functions' own logs are in it, and the demo did its work.
    function_records = [r for r in caplog.records if r.name.startswith("aws.lambda.")]
    assert any("recluster published" in r.getMessage() for r in function_records)
    assert summary.accepted == rows

    leaked = [item for item in pii_corpus() if item.value in everything]
    assert leaked == []
    # Raw reporter and subject ids never leave intake; neither does the HMAC key, nor any token.
    assert re.findall(r"\b(?:reporter|seller|listing|order|user|creator|live_stream)-\d+\b", everything) == []
    assert LOCAL_ID_HASH_KEY not in everything
    assert re.findall(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", everything) == []
