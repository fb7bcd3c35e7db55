"""benchmarks/cost_model.py: its settings follow template.yaml, and its arithmetic follows the
billing rules it cites (Comprehend's 3-unit minimum, per-batch Lambda billing, the recluster window)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from riskradar.local.template import SamTemplate
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cost_model() -> ModuleType:
    return load_script(ROOT / "benchmarks" / "cost_model.py")


def test_the_models_settings_are_the_templates(cost_model: ModuleType) -> None:
    template = SamTemplate.load(ROOT / "template.yaml")
    resources = template.resources
    memory = {
        name: resources[name]["Properties"]["MemorySize"] for name in ("IntakeFunction", "TriageFunction")
    }
    assert memory["IntakeFunction"] / 1024 == cost_model.INTAKE_MEMORY_GB
    assert memory["TriageFunction"] / 1024 == cost_model.TRIAGE_MEMORY_GB
    assert resources["ReclusterFunction"]["Properties"]["MemorySize"] / 1024 == cost_model.RECLUSTER_MEMORY_GB
    source = resources["TriageFunction"]["Properties"]["Events"]["IntakeQueue"]["Properties"]
    assert source["BatchSize"] == cost_model.TRIAGE_BATCH_SIZE
    parameters = template.parameter_values()
    assert parameters["ReclusterSchedule"] == "rate(1 hour)"
    assert cost_model.RECLUSTER_RUNS_PER_MONTH == 24 * 30
    assert int(parameters["ReclusterWindowDays"]) == cost_model.RECLUSTER_WINDOW_DAYS
    for function in ("IntakeFunction", "TriageFunction", "ReclusterFunction"):
        assert resources[function]["Properties"].get(
            "Architectures", template.function_globals()["Architectures"]
        ) == ["arm64"]


def inputs(
    *, chars: float = 80.0, triage_seconds: float = 2.0, others: float = 0.0
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    pipeline = {
        "intake_batch_size": 100,
        "mean_text_chars": chars,
        "intake": {
            "wall_ms_per_request": [120.0, 100.0, 110.0],
            "process_cpu_ms_per_request": [60.0, 50.0, 70.0],
            "calls_per_report": {
                "dynamodb:PutItem": 1.0,
                "dynamodb:UpdateItem": 1.0,
                "sqs:SendMessageBatch": 0.1,
            },
            "units_per_report": {
                "dynamodb:PutItem:write_units": 1.0,
                "dynamodb:UpdateItem:write_units": 1.0,
                "sqs:SendMessageBatch:billed_requests": 0.1,
                "logs:bytes": 300.0,
            },
        },
        "triage": {
            "calls_per_report": {"s3:PutObject": 0.01, "dynamodb:BatchWriteItem": 0.04},
            "units_per_report": {"dynamodb:BatchWriteItem:write_units": 2.0, "logs:bytes": 100.0},
        },
        "recluster": {"calls_per_run": {"s3:PutObject": 4, "s3:ListObjectsV2": 2}, "units_per_run": {}},
    }
    triage = {"handler_seconds": [triage_seconds] * 3, "other_processes_cpu_share": [others, others, others]}
    cluster = {
        "runs": [
            {
                "reports": 10_000,
                "seconds": 3.0,
                "cpu_seconds": 2.0,
                "peak_rss_mb": 240.0,
                "default_config": True,
            },
            {
                "reports": 100_000,
                "seconds": 30.0,
                "cpu_seconds": 20.0,
                "peak_rss_mb": 640.0,
                "default_config": True,
            },
        ]
    }
    return pipeline, triage, cluster


def line(model: Any, component: str, starts: str) -> float:
    return float(
        next(
            item.dollars
            for item in model.lines
            if item.component == component and item.item.startswith(starts)
        )
    )


@pytest.mark.parametrize(("chars", "units"), [(40, 3), (300, 3), (301, 4), (999, 10)])
def test_comprehend_bills_units_of_100_characters_with_a_3_unit_minimum(
    cost_model: ModuleType, chars: int, units: int
) -> None:
    model = cost_model.build(*inputs(chars=chars), monthly_reports=1_000_000, basis="wall", aws_call_ms=0)
    assert line(model, "Comprehend", "one") == pytest.approx(units * 0.0001 * 1_000_000)


def test_triage_duration_is_billed_per_batch_in_proportion_to_its_time(cost_model: ModuleType) -> None:
    def triage_duration(seconds: float) -> float:
        model = cost_model.build(
            *inputs(triage_seconds=seconds), monthly_reports=10**6, basis="wall", aws_call_ms=0
        )
        return line(model, "triage", "Lambda duration")

    assert triage_duration(4.0) == pytest.approx(2 * triage_duration(2.0))
    # 10,000 batches of 100 reports, 2 s each at 3008 MB, at the arm64 price.
    assert triage_duration(2.0) == pytest.approx(10_000 * 2.0 * 3008 / 1024 * 0.0000133334)


def test_the_cpu_basis_removes_what_other_processes_took(cost_model: ModuleType) -> None:
    busy = cost_model.build(
        *inputs(triage_seconds=4.0, others=0.75), monthly_reports=10**6, basis="cpu", aws_call_ms=0
    )
    idle = cost_model.build(
        *inputs(triage_seconds=2.0, others=0.0), monthly_reports=10**6, basis="cpu", aws_call_ms=0
    )
    # 4 s of wall clock with a quarter of two cores free is 2 s of CPU; 2 s on an idle machine, 4 s.
    assert line(busy, "triage", "Lambda duration") == pytest.approx(
        line(idle, "triage", "Lambda duration") / 2
    )


def test_recluster_cost_per_report_follows_the_window_it_reclusters(cost_model: ModuleType) -> None:
    small = cost_model.build(*inputs(), monthly_reports=10_000, basis="cpu", aws_call_ms=0, s3_get_ms=0)
    large = cost_model.build(*inputs(), monthly_reports=100_000, basis="cpu", aws_call_ms=0, s3_get_ms=0)
    # Each hourly run clusters the month's reports: 2 s at 10k, 20 s at 100k (measured points), the
    # cost spread over 10x more reports at 100k.
    per_run_small = 720 * 2.0 * 4 * 0.0000133334
    assert line(small, "recluster", "Lambda duration") == pytest.approx(per_run_small * 100)
    assert line(large, "recluster", "Lambda duration") == pytest.approx(per_run_small * 10 * 10)
    extrapolated = cost_model.build(
        *inputs(), monthly_reports=1_000_000, basis="cpu", aws_call_ms=0, s3_get_ms=0
    )
    assert any("extrapolated" in assumption for assumption in extrapolated.assumptions)
    assert not any("extrapolated" in assumption for assumption in large.assumptions)


@pytest.mark.parametrize(("a", "b"), [(2e-4, 0.0), (1e-4, 2e-7), (0.0, 5e-7)])
def test_clustering_time_beyond_the_measured_sizes_follows_n_and_n_to_the_1_5(
    cost_model: ModuleType, a: float, b: float
) -> None:
    """Times measured at 10k-100k that grow as a·n + b·n^1.5 (the micro-clusters grow with √n)
    are extrapolated along that curve, not along a straight line through them."""
    runs = [
        {"reports": n, "seconds": a * n + b * n**1.5, "cpu_seconds": a * n + b * n**1.5}
        for n in (10_000, 50_000, 100_000)
    ]
    seconds, extrapolated = cost_model.clustering_seconds({"runs": runs}, 1_000_000, "cpu")
    assert extrapolated
    assert seconds == pytest.approx(a * 1e6 + b * 1e9, rel=1e-6)
    inside, flagged = cost_model.clustering_seconds({"runs": runs}, 50_000, "cpu")
    assert (inside, flagged) == (pytest.approx(a * 5e4 + b * 5e4**1.5), False)


def test_the_table_names_the_totals_and_the_alternative(cost_model: ModuleType) -> None:
    model = cost_model.build(*inputs(), monthly_reports=1_000_000, basis="cpu", aws_call_ms=5)
    table = cost_model.render(model, "test machine")
    assert "| **riskradar** | **total** |" in table
    assert "| **Amazon Comprehend** |" in table
    assert "measured on: test machine" in table
    riskradar = sum(item.dollars for item in model.lines if item.component != "Comprehend")
    assert f"**{riskradar:.2f}**" in table


def test_a_recluster_run_reads_a_compacted_shard_a_day_and_todays_shards(cost_model: ModuleType) -> None:
    def recluster_lines(get_ms: float, mb_per_s: float, shard_bytes: float) -> tuple[float, float]:
        pipeline, triage, cluster = inputs()
        pipeline["triage"]["units_per_report"]["s3:PutObject:bytes"] = shard_bytes
        model = cost_model.build(
            pipeline,
            triage,
            cluster,
            monthly_reports=1_000_000,
            basis="cpu",
            aws_call_ms=0,
            s3_get_ms=get_ms,
            s3_mb_per_s=mb_per_s,
        )
        return line(model, "recluster", "Lambda duration"), line(model, "recluster", "S3")

    base, _ = recluster_lines(0.0, 1e12, 0.0)
    # 1M reports a month, 1 shard per batch of 100: 333 shards a day, 13.9 an hour. A run reads the
    # 30 days' compacted shards, today's, and the shards of the last hour.
    reads = 30 + 1 + 1_000_000 / 30 / 100 / 24
    with_gets, s3 = recluster_lines(20.0, 1e12, 0.0)
    assert with_gets - base == pytest.approx(720 * reads * 0.020 * 4 * 0.0000133334)
    puts_per_run = 4
    lists_per_run = 31  # each of the 31 days the window touches: one page of under 1,000 keys
    # More than RECOMPACT_AFTER (10) shards an hour: today is compacted every run, and sealed.
    compactions = 30 * 25
    assert s3 == pytest.approx(
        720 * (reads * 0.0004 / 1000 + (puts_per_run + lists_per_run) * 0.005 / 1000)
        + compactions * 0.005 / 1000
    )
    # ... and the bytes: the window's 1M reports of 2,000 bytes at 100 MB/s is 20 s a run, and
    # today's compacted shard, rewritten, half a day (16,667 reports) more.
    with_bytes, _ = recluster_lines(0.0, 100.0, 2000.0)
    assert with_bytes - base == pytest.approx(720 * (20.0 + 16_666.7 * 2000 / 1e8) * 4 * 0.0000133334)
