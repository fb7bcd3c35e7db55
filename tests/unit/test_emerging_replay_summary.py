"""benchmarks/emerging_replay.py's summary: the interval it gives the median, and the row that
combines both paths as a strategist receiving both sees them."""

from __future__ import annotations

import math
import random
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def replay() -> ModuleType:
    return load_script(ROOT / "benchmarks" / "emerging_replay.py")


def test_the_median_interval_of_16_runs_is_the_5th_to_the_12th_value(replay: ModuleType) -> None:
    # Binomial(16, 1/2): P(X <= 4) = 0.038 -> coverage 0.923; P(X <= 5) = 0.105 -> 0.79 < 0.9.
    values = [float(v) for v in range(100, 116)]
    random.Random(3).shuffle(values)
    assert replay.median_interval(values, 0.9) == (104.0, 111.0)


def test_the_median_interval_covers_the_median_as_often_as_it_says(replay: ModuleType) -> None:
    rng = random.Random(7)
    trials = 2000
    covered = 0
    for _ in range(trials):
        low, high = replay.median_interval([rng.expovariate(1.0) for _ in range(16)], 0.9)
        covered += low <= math.log(2) <= high  # the exponential's median
    assert 0.89 <= covered / trials <= 0.96


def test_too_few_runs_give_no_interval(replay: ModuleType) -> None:
    assert replay.median_interval([3.0, 4.0, 5.0], 0.9) == (-math.inf, math.inf)


def test_a_missed_label_stays_missed_at_the_top_of_the_interval(replay: ModuleType) -> None:
    values = [float(v) for v in range(10)] + [math.inf] * 6
    low, high = replay.median_interval(values, 0.9)
    assert low == 4.0
    assert high == math.inf


def _result(
    replay: ModuleType, online: int | None, batch: int | None, online_fa: int, batch_fa: int
) -> object:
    return replay.ScenarioResult(
        label="x",
        seed=0,
        held_back_total=60,
        absorbed=0.5,
        known_themes=10,
        outcomes={
            "online": replay.Outcome(online, online_fa, 60, 2.0),
            "batch": replay.Outcome(batch, batch_fa, 60, 0.5),
        },
        seconds={"online": 1.0, "batch": 2.0},
    )


def test_either_path_takes_the_first_alert_and_adds_the_false_alarm_rates(replay: ModuleType) -> None:
    results = [
        _result(replay, online=20, batch=12, online_fa=1, batch_fa=0),
        _result(replay, online=8, batch=None, online_fa=0, batch_fa=1),
        _result(replay, online=None, batch=None, online_fa=0, batch_fa=0),
    ]
    row = replay.either_path(results)
    assert row.delays == [12.0, 8.0, math.inf]
    # online: 1 over 6 weeks; batch: 1 over 1.5 weeks.
    assert row.false_alarms_per_week == pytest.approx(1 / 6 + 1 / 1.5)
    # The worst scenario's own sum (0 + 1/0.5), not the sum of each path's worst.
    assert row.max_false_alarms_per_week == pytest.approx(2.0)
    assert row.median == 12.0
