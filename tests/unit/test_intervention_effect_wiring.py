"""From a window's per-theme stats to an intervention's effect (riskradar.strategist.service)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from riskradar.adapters.s3 import DigestRef, ReportFacts
from riskradar.effect import EffectStatus
from riskradar.strategist.digests import DigestPublisher
from riskradar.strategist.models import Intervention, InterventionType, ThemeCuration
from riskradar.strategist.service import measure_intervention
from riskradar.theme_stats import ThemeStats, compute_theme_stats
from riskradar.themes import ThemeSnapshot

END = datetime(2026, 11, 30, 6, tzinfo=UTC)
START = datetime(2026, 11, 15, 9, 30, tzinfo=UTC)  # mid-day: the 16th is its first whole day


def stats_with(treated_after: int, *, seed: int = 0) -> ThemeStats:
    """30 days of payments traffic: the treated theme at 40 a day (`treated_after` a day from the
    first whole day of the intervention), three control themes at 40 a day, and shop traffic."""
    rng = np.random.default_rng(seed)
    themes: list[str | None] = []
    times: list[float] = []
    businesses: list[str] = []
    first = END.date() - timedelta(days=30)
    for offset in range(31):
        day = first + timedelta(days=offset)
        midday = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
        counts = {
            "thm-treated": treated_after if day >= date(2026, 11, 16) else 40,
            "thm-c1": 40,
            "thm-c2": 40,
            "thm-c3": 40,
            None: 60,
        }
        for theme, mean in counts.items():
            for _ in range(int(rng.poisson(mean))):
                themes.append(theme)
                times.append(midday)
                businesses.append("payments")
        for _ in range(int(rng.poisson(30))):  # another business's report of the treated theme
            themes.append("thm-treated")
            times.append(midday)
            businesses.append("shop")
    n = len(themes)
    facts = ReportFacts(
        businesses=tuple(businesses),
        reporter_roles=("user",) * n,
        reporter_hashes=("r",) * n,
        subject_types=("",) * n,
        subject_hashes=("",) * n,
        amounts_usd=np.full(n, np.nan),
    )
    return compute_theme_stats(
        themes,
        times,
        facts,
        theme_ids=["thm-treated", "thm-c1", "thm-c2", "thm-c3"],
        end=END,
        window_days=30,
        snapshot_version=3,
    )


def intervention(**changes: object) -> Intervention:
    base = Intervention(
        intervention_id="int-1",
        theme_id="thm-treated",
        business="payments",
        action_type=InterventionType.VERIFY,
        action="step-up verification",
        start=START,
        created_by="alice",
        created_at=START,
    )
    return base.model_copy(update=changes)


def test_a_halving_in_the_business_is_measured_against_its_controls() -> None:
    effect = measure_intervention(intervention(), stats_with(20), [], today=END.date())
    assert effect.status is EffectStatus.OK
    # It started mid-day on the 15th: that mixed day is in neither window.
    assert effect.start == date(2026, 11, 15)
    assert effect.before_window is not None
    assert effect.after_window is not None
    assert (effect.before_window.last_day, effect.after_window.first_day) == (
        date(2026, 11, 14),
        date(2026, 11, 16),
    )
    assert effect.difference_in_differences is not None
    did = effect.difference_in_differences
    # Coverage is calibrated in test_effect.py; here: the right series reached the statistics. Had
    # the theme's shop reports (30 a day, unchanged) leaked in, the ratio would be about 0.7.
    assert 0.4 < did.ratio < 0.65
    assert did.ci_high < 1.0
    assert effect.counts.control_themes == 3
    assert effect.counts.treated_before == sum(
        stats_with(20).theme("thm-treated").daily(31, business="payments")[1:15]  # type: ignore[union-attr]
    )


def test_no_change_gives_an_interval_that_covers_one() -> None:
    effect = measure_intervention(intervention(), stats_with(40, seed=1), [], today=END.date())
    assert effect.status is EffectStatus.OK
    assert effect.difference_in_differences is not None
    assert effect.difference_in_differences.ci_low <= 1.0 <= effect.difference_in_differences.ci_high


def test_a_theme_with_its_own_intervention_is_no_control() -> None:
    other = intervention(intervention_id="int-2", theme_id="thm-c1")
    effect = measure_intervention(intervention(), stats_with(20), [other], today=END.date())
    assert "thm-c1" not in effect.counts.control_theme_ids
    assert effect.counts.control_themes == 2


def test_an_intervention_started_today_is_pending() -> None:
    effect = measure_intervention(
        intervention(start=END - timedelta(hours=1)), stats_with(40), [], today=END.date()
    )
    assert effect.status is EffectStatus.PENDING


def test_without_stats_there_is_not_enough_data() -> None:
    """No recluster has run yet: no baseline before the start, and waiting will not make one."""
    effect = measure_intervention(intervention(), None, [], today=END.date())
    assert effect.status is EffectStatus.NOT_ENOUGH_DATA
    assert effect.final
    assert effect.reason is not None
    assert "before the start" in effect.reason


def test_an_intervention_started_at_midnight_has_its_first_day_in_the_after_window() -> None:
    effect = measure_intervention(
        intervention(start=datetime(2026, 11, 16, tzinfo=UTC)), stats_with(20), [], today=END.date()
    )
    assert effect.before_window is not None
    assert effect.after_window is not None
    assert (effect.before_window.last_day, effect.after_window.first_day) == (
        date(2026, 11, 15),
        date(2026, 11, 16),
    )


@pytest.mark.parametrize(
    "end",
    [
        datetime(2026, 11, 15, 17, tzinfo=UTC),
        datetime(2026, 11, 16, 8, tzinfo=UTC),
        datetime(2026, 11, 16, tzinfo=UTC),
    ],
)
def test_an_intervention_lifted_before_a_whole_day_in_effect_can_never_be_measured(end: datetime) -> None:
    """Started mid-day and lifted the same day, or during the next: no whole day was in effect."""
    effect = measure_intervention(intervention(end=end), stats_with(20), [], today=END.date())
    assert effect.status is EffectStatus.NOT_ENOUGH_DATA
    assert effect.final
    assert effect.after_window is None


def test_the_stats_partial_last_day_stays_out_after_midnight() -> None:
    """The stats end at 06:00 on the 30th; a day later (no recluster since) the 30th is still partial."""
    stats = stats_with(20)
    recent = intervention(start=datetime(2026, 11, 20, 9, 30, tzinfo=UTC))  # its after-window reaches today
    same_day = measure_intervention(recent, stats, [], today=END.date())
    next_day = measure_intervention(recent, stats, [], today=END.date() + timedelta(days=1))
    assert same_day.after_window is not None
    assert same_day.after_window.last_day == date(2026, 11, 29)
    assert next_day.after_window == same_day.after_window
    assert next_day.counts == same_day.counts


def test_a_theme_whose_own_intervention_was_lifted_mid_day_on_the_first_baseline_day_is_no_control() -> None:
    """Its intervention was in effect for part of the 1st, the baseline's first day (1st-14th)."""
    other = intervention(
        intervention_id="int-2",
        theme_id="thm-c1",
        start=datetime(2026, 10, 20, tzinfo=UTC),
        end=datetime(2026, 11, 1, 10, tzinfo=UTC),
    )
    effect = measure_intervention(intervention(), stats_with(20), [other], today=END.date())
    assert effect.before_window is not None
    assert effect.before_window.first_day == date(2026, 11, 1)
    assert "thm-c1" not in effect.counts.control_theme_ids
    lifted_at_midnight = other.model_copy(update={"end": datetime(2026, 11, 1, tzinfo=UTC)})
    effect = measure_intervention(intervention(), stats_with(20), [lifted_at_midnight], today=END.date())
    assert "thm-c1" in effect.counts.control_theme_ids


class StoredRecords:
    def __init__(self, interventions: list[Intervention]) -> None:
        self._interventions = interventions

    def all_curation(self) -> dict[str, ThemeCuration]:
        return {}

    def interventions(self, *, theme_id: str | None = None) -> list[Intervention]:
        return list(self._interventions)


class KeptDigests:
    def __init__(self) -> None:
        self.published: list[dict[str, str]] = []

    def publish(self, snapshot_version: int, generated_at: str, renderings: dict[str, str]) -> DigestRef:
        self.published.append(renderings)
        return DigestRef(snapshot_version, generated_at, {name: f"digests/{name}" for name in renderings})


def test_interventions_at_the_calendars_edges_keep_no_digest_from_being_published() -> None:
    """Records stored before the API bounded intervention dates: "9999-12-31T23:59" as "no end"
    is measured as still in place; a start in year 1 cannot be measured and is left without one."""
    good = intervention()
    endless = intervention(
        intervention_id="int-endless", theme_id="thm-c1", end=datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    )
    ancient = intervention(
        intervention_id="int-ancient", theme_id="thm-c2", start=datetime(1, 1, 2, tzinfo=UTC)
    )
    store = KeptDigests()
    publisher = DigestPublisher(StoredRecords([good, endless, ancient]), store, clock=lambda: END)

    digest, _ = publisher.publish(ThemeSnapshot.empty(8), stats_with(20))

    assert len(store.published) == 1
    effects = {view.intervention_id: view.effect for view in digest.other_interventions}
    assert effects["int-ancient"] is None
    assert effects["int-1"] is not None
    assert effects["int-endless"] is not None
    assert measure_intervention(good, stats_with(20), [endless], today=END.date()).status is EffectStatus.OK
