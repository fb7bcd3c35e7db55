"""Online new-theme detection on synthetic unit vectors (seeded; no model)."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from riskradar.novelty import NoveltyAlert, NoveltyConfig, NoveltyDetector

DIMENSION = 48
PER_DAY = 150
START = datetime(2026, 11, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Stream:
    vectors: np.ndarray
    ids: list[str]
    times: list[datetime]
    #: True for the reports of the new theme.
    new: np.ndarray


def around(centre: np.ndarray, spread: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors scattered around `centre`: cosine ~ 1 / sqrt(1 + spread^2) to it."""
    noise = rng.normal(0.0, spread / np.sqrt(DIMENSION), (count, DIMENSION))
    rows = centre[np.newaxis, :] + noise
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def unit(rng: np.random.Generator, count: int) -> np.ndarray:
    rows = rng.normal(size=(count, DIMENSION))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_stream(seed: int, days: int, new_from_day: int | None = None, new_first_day: float = 2.0) -> Stream:
    """Known themes' cores (cosine ~0.8 to their centre), their loose tails (~0.6) and odd reports
    (anywhere) at a drifting mix; from `new_from_day`, a tight new theme doubling every day."""
    rng = np.random.default_rng(seed)
    centres = unit(rng, 25)
    new_centre = unit(rng, 1)[0]
    shares = rng.dirichlet(np.full(len(centres), 3.0))
    vectors, times, new = [], [], []
    for day in range(days):
        shares = shares * np.exp(rng.normal(0.0, 0.1, len(shares)))
        volume = rng.poisson(PER_DAY)
        themes = rng.choice(len(centres), size=volume, p=shares / shares.sum())
        kind = rng.random(volume)
        for theme, roll in zip(themes, kind, strict=True):
            if roll < 0.85:
                vectors.append(around(centres[theme], 0.75, 1, rng)[0])
            elif roll < 0.97:
                vectors.append(around(centres[theme], 1.3, 1, rng)[0])
            else:
                vectors.append(unit(rng, 1)[0])
            new.append(False)
        if new_from_day is not None and day >= new_from_day:
            count = rng.poisson(new_first_day * 2.0 ** (day - new_from_day))
            vectors.extend(around(new_centre, 0.6, count, rng))
            new.extend([True] * count)
            volume += count
        times.extend(
            START + timedelta(days=day, seconds=float(s)) for s in np.sort(rng.uniform(0, 86_400, volume))
        )
    # Reports of one day arrive in time order, each kind mixed in.
    order = np.argsort(np.array([t.timestamp() for t in times]), kind="stable")
    stacked = np.array(vectors)[order]
    return Stream(
        vectors=stacked.astype(np.float32),
        ids=[f"r{i}" for i in range(len(order))],
        times=[times[i] for i in order],
        new=np.array(new)[order],
    )


def replay(
    detector: NoveltyDetector, stream: Stream, *, learn_until: datetime | None = None, batch: int = 25
) -> list[tuple[int, NoveltyAlert]]:
    """(index of the batch's last report, alert) for every alert, feeding `batch` reports at a time."""
    found = []
    for start in range(0, len(stream.ids), batch):
        end = min(start + batch, len(stream.ids))
        learning = learn_until is not None and stream.times[end - 1] < learn_until
        alerts = detector.observe(
            stream.vectors[start:end], stream.ids[start:end], stream.times[start:end], alert=not learning
        )
        found.extend((end - 1, alert) for alert in alerts)
    return found


def new_share(alert: NoveltyAlert, stream: Stream) -> float:
    return float(np.mean([stream.new[int(member[1:])] for member in alert.members]))


def test_background_alone_keeps_the_false_alarm_goal() -> None:
    # 14 monitored days of a drifting background with nothing new, on six seeds (12 simulated
    # weeks): at most one alert a week, the goal of the emerging-theme benchmark. This detector
    # raises 3 here (0.25 a week; 7 on seeds 1-10), the micro-cluster detector before it 1 on
    # seeds 1-10; micro-clusters joined at 0.8 raised 15-18 per seed, and judging windows without
    # enough history before them 18-22.
    alerts = []
    for seed in range(1, 7):
        stream = make_stream(seed, days=24)
        alerts += replay(NoveltyDetector(), stream, learn_until=START + timedelta(days=10))
    weeks = 6 * 14 / 7
    assert len(alerts) <= weeks, [(index, alert.burst_size, alert.surprise) for index, alert in alerts]


def test_no_burst_is_judged_against_less_than_the_minimum_history() -> None:
    # A new tight theme from the very first day: nothing is known about any region yet, so the
    # detector must stay quiet until it has seen min_history_reports, and then judge only windows
    # that start after them.
    config = NoveltyConfig(min_history_reports=600)
    stream = make_stream(11, days=8, new_from_day=0)
    alerts = replay(NoveltyDetector(config), stream)
    assert alerts, "the theme, still growing after the minimum history, should be flagged"
    for index, alert in alerts:
        assert index >= config.min_history_reports
        assert min(int(member[1:]) for member in alert.members) >= config.min_history_reports


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_new_tight_theme_is_flagged_within_a_few_dozen_reports(seed: int) -> None:
    stream = make_stream(seed, days=24, new_from_day=18)
    alerts = replay(NoveltyDetector(), stream, learn_until=START + timedelta(days=10))
    about_it = [(index, alert) for index, alert in alerts if new_share(alert, stream) > 0.5]
    assert about_it, "the new theme was never flagged"
    first_index, first = about_it[0]
    delay = int(stream.new[: first_index + 1].sum())
    assert delay <= 30, delay
    assert first.burst_size == len(first.members) >= NoveltyConfig().min_alert_size
    assert first.surprise >= NoveltyConfig().surprise_threshold
    assert first.expected < first.burst_size
    assert first.first_seen >= START + timedelta(days=17)
    assert np.linalg.norm(first.centroid) == pytest.approx(1.0, abs=1e-5)


def test_state_round_trip_gives_identical_behaviour() -> None:
    stream = make_stream(4, days=20, new_from_day=15)
    half = int(
        np.searchsorted([t.timestamp() for t in stream.times], (START + timedelta(days=15)).timestamp())
    )
    original = NoveltyDetector()
    replay(original, Stream(stream.vectors[:half], stream.ids[:half], stream.times[:half], stream.new[:half]))
    state = json.loads(json.dumps(original.to_state()))  # through JSON, as it is kept in S3
    restored = NoveltyDetector.from_state(state)
    assert restored.to_state() == original.to_state()
    rest = Stream(stream.vectors[half:], stream.ids[half:], stream.times[half:], stream.new[half:])
    from_original = replay(original, rest)
    from_restored = replay(restored, rest)
    assert from_original, "the new theme should be flagged in the second half"
    assert [(i, a.members, a.surprise) for i, a in from_original] == [
        (i, a.members, a.surprise) for i, a in from_restored
    ]
    assert restored.to_state() == original.to_state()


def test_state_stays_bounded() -> None:
    config = NoveltyConfig(memory_reports=300, window_reports=300, max_burst=32)
    detector = NoveltyDetector(config)
    rng = np.random.default_rng(5)
    for day in range(8):
        times = [START + timedelta(days=day, seconds=i) for i in range(250)]
        detector.observe(unit(rng, 250), [f"d{day}-{i}" for i in range(250)], times)
        assert detector.remembered() == min(250 * (day + 1), 300)
    state = detector.to_state()
    assert state["memory"]["count"] == 300
    # Vectors as float16 (2 bytes a dimension), three numbers a report at 8 bytes, all in base64
    # (4/3); plus the report ids.
    per_report = (DIMENSION * 2 + 3 * 8) * 4 / 3 + len('"d7-249", ')
    assert len(json.dumps(state)) < 300 * per_report + 2_000


def test_memory_keeps_the_latest_reports_in_arrival_order() -> None:
    detector = NoveltyDetector(NoveltyConfig(memory_reports=100, window_reports=100, max_burst=32))
    rng = np.random.default_rng(6)
    detector.observe(unit(rng, 150), [f"a{i}" for i in range(150)], [START] * 150)
    state = detector.to_state()
    assert state["memory"]["report_id"] == [f"a{i}" for i in range(50, 150)]
    assert NoveltyDetector.from_state(json.loads(json.dumps(state))).to_state() == state


def test_state_rejects_arrays_of_the_wrong_length() -> None:
    detector = NoveltyDetector()
    detector.observe(unit(np.random.default_rng(12), 30), [f"r{i}" for i in range(30)], [START] * 30)
    state = json.loads(json.dumps(detector.to_state()))
    state["memory"]["report_id"].pop()
    with pytest.raises(ValueError, match="29 ids"):
        NoveltyDetector.from_state(state)
    state = json.loads(json.dumps(detector.to_state()))
    state["memory"]["vector"] = state["memory"]["vector"][:-128]
    with pytest.raises(ValueError, match="expected shape"):
        NoveltyDetector.from_state(state)
    state = json.loads(json.dumps(detector.to_state()))
    state["position"] = 10
    with pytest.raises(ValueError, match="positions outside"):
        NoveltyDetector.from_state(state)


def test_state_rejects_positions_that_would_share_a_slot() -> None:
    config = NoveltyConfig(memory_reports=100, window_reports=100, max_burst=32)
    detector = NoveltyDetector(config)
    detector.observe(unit(np.random.default_rng(13), 150), [f"r{i}" for i in range(150)], [START] * 150)
    state = json.loads(json.dumps(detector.to_state()))
    positions = np.frombuffer(base64.b64decode(state["memory"]["position"]), dtype="<i8").copy()
    positions[0] = positions[1]  # two reports in one slot
    state["memory"]["position"] = base64.b64encode(positions.tobytes()).decode()
    with pytest.raises(ValueError, match="repeated positions"):
        NoveltyDetector.from_state(state)
    positions[0] = 50  # older than the 100 reports remembered at position 150
    state["memory"]["position"] = base64.b64encode(positions.tobytes()).decode()
    with pytest.raises(ValueError, match="older than its memory"):
        NoveltyDetector.from_state(state)


def test_order_within_a_batch_does_not_matter() -> None:
    stream = make_stream(7, days=20, new_from_day=15)
    in_order = replay(NoveltyDetector(), stream, batch=100)
    shuffled_detector = NoveltyDetector()
    rng = np.random.default_rng(0)
    shuffled = []
    for start in range(0, len(stream.ids), 100):
        index = np.arange(start, min(start + 100, len(stream.ids)))
        rng.shuffle(index)
        shuffled.extend(
            shuffled_detector.observe(
                stream.vectors[index], [stream.ids[i] for i in index], [stream.times[i] for i in index]
            )
        )
    assert [a.members for _, a in in_order] == [a.members for a in shuffled]


def test_a_region_alerts_again_only_when_its_burst_doubles() -> None:
    stream = make_stream(8, days=24, new_from_day=18)
    alerts = replay(NoveltyDetector(), stream, learn_until=START + timedelta(days=10))
    bursts = [a.burst_size for _, a in alerts if new_share(a, stream) > 0.5]
    assert bursts
    assert all(later >= 2 * earlier for earlier, later in itertools.pairwise(bursts))


def test_learning_only_raises_nothing() -> None:
    stream = make_stream(9, days=20, new_from_day=12)
    assert replay(NoveltyDetector(), stream, learn_until=START + timedelta(days=30)) == []


def test_epoch_seconds_are_times_too() -> None:
    stream = make_stream(10, days=20, new_from_day=15)
    with_datetimes = replay(NoveltyDetector(), stream)
    as_seconds = Stream(stream.vectors, stream.ids, [t.timestamp() for t in stream.times], stream.new)  # type: ignore[misc]
    with_seconds = replay(NoveltyDetector(), as_seconds)
    assert [a.members for _, a in with_datetimes] == [a.members for _, a in with_seconds]


def test_inputs_are_checked() -> None:
    detector = NoveltyDetector()
    rows = unit(np.random.default_rng(0), 2)
    with pytest.raises(ValueError, match="report ids"):
        detector.observe(rows, ["a"], [START, START])
    with pytest.raises(ValueError, match="timezone"):
        detector.observe(rows, ["a", "b"], [START, START.replace(tzinfo=None)])
    detector.observe(rows, ["a", "b"], [START, START])
    with pytest.raises(ValueError, match="dimension"):
        detector.observe(np.ones((1, DIMENSION + 1), dtype=np.float32), ["c"], [START])
    assert detector.observe(np.zeros((0, DIMENSION), dtype=np.float32), [], []) == []
    with pytest.raises(ValueError, match="min_alert_size"):
        NoveltyConfig(min_alert_size=0)
    with pytest.raises(ValueError, match="similarities"):
        NoveltyConfig(neighbourhood_similarities=(1.5,))
    with pytest.raises(ValueError, match="version"):
        NoveltyDetector.from_state({"version": 0})
