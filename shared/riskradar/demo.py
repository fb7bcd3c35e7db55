"""`make demo`: replay the shipped Banking77 data through the embedded local stack, end to end.

Starts the local stack from template.yaml, replays the dataset as reports through the real HTTP API
(spread over businesses and reporter roles), resends a slice as a client retry would, and prints
where every report went.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import requests
from tqdm import tqdm

from riskradar.adapters.s3 import ThemeSnapshotStore
from riskradar.embedding import MINILM_DIMENSION
from riskradar.local import LocalStack
from riskradar.local.defaults import PROJECT_ROOT, TEMPLATE, local_stack_options, strategist_claims
from riskradar.models import ThemeAlert
from riskradar.replay import (
    ReplayPlan,
    ReplaySummary,
    SimulatedIntervention,
    post_batches,
    read_rows,
    synthesize_reports,
)

DATASET = PROJECT_ROOT / "data" / "banking77" / "train.csv"
SIGNAL_LEVELS = ("critical", "high", "normal")
#: Unauthorised direct debits that a confirmation step cut by 70 % from ten days before the replay's
#: end. The intent is one the clustering keeps together (Banking77 train: 68 % of its 182 reports in
#: one theme, 98 % of that theme theirs), so the theme the strategist picks is the one that changed.
#: card_payment_not_recognised, the first choice, spreads over several themes that mostly hold other
#: intents, and the demo then measured a diluted, inconclusive effect.
DEMO_INTERVENTION = SimulatedIntervention(
    label="direct_debit_payment_not_recognised",
    business="payments",
    days_before_end=10,
    reduction=0.7,
    action="Confirm every new direct-debit mandate in the app before the first collection",
)


@dataclass(frozen=True)
class DemoOptions:
    dataset: Path = DATASET
    limit: int | None = None
    batch_size: int = 100
    retry_share: float = 0.02
    seed: int = 7
    label_column: str | None = "category"
    #: A fraud-like intent held back until the last days of the replay, where it emerges.
    emerging_label: str | None = "compromised_card"
    #: The template's Stage: resource names include it, so two stacks in one process need two.
    stage: str = "dev"
    #: Days the replay spans (enough for an intervention's before and after windows).
    days: int = 21
    #: An intervention that worked, played into the replay and then recorded through the API.
    intervention: SimulatedIntervention | None = DEMO_INTERVENTION
    #: Where the digest is written (HTML, JSON, Markdown).
    digest_dir: Path = PROJECT_ROOT / "out"


@dataclass(frozen=True)
class PipelineCounts:
    on_intake_queue: int
    in_intake_dlq: int
    stored: int
    signals: dict[str, int]
    signal_dlqs: int


class SignalTap:
    """Stands in for the downstream consumer of signals (a case-management tool): receives and
    deletes signals from the three queues as they arrive, counting them per level and per report
    (a report signalled twice shows as 2) and keeping the top ones."""

    def __init__(self, stack: LocalStack, *, keep: int = 3) -> None:
        self._sqs = stack.client("sqs")
        self._queues = {level: stack.physical_id(f"Signal{level.title()}Queue") for level in SIGNAL_LEVELS}
        self._keep = keep
        self.received: Counter[str] = Counter()
        self.by_report: Counter[str] = Counter()
        self.top: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="signal-tap", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, then take whatever arrived since the last poll (one thread counts at a time)."""
        self._stop.set()
        self._thread.join()
        while self.drain_once():
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.drain_once():
                self._stop.wait(0.2)

    def drain_once(self) -> int:
        taken = 0
        for level, url in self._queues.items():
            while messages := self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                signals = [json.loads(message["Body"]) for message in messages]
                self.received[level] += len(signals)
                self.by_report.update(signal["report_id"] for signal in signals)
                self.top = sorted([*self.top, *signals], key=lambda s: (-s["score"], s["report_id"]))[
                    : self._keep
                ]
                self._sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )
                taken += len(messages)
        return taken


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> ReplaySummary:
    rows = read_rows(options.dataset, text_column="text", label_column=options.label_column)
    if options.limit and options.limit < len(rows):
        # A random sample: files like Banking77 are sorted by label, and a head would miss most.
        rows = random.Random(options.seed).sample(rows, options.limit)
    labels = {row.label for row in rows}
    intervention = (
        options.intervention if options.intervention and options.intervention.label in labels else None
    )
    plan = ReplayPlan(
        seed=options.seed,
        days=options.days,
        id_prefix="b77",
        emerging_label=options.emerging_label,
        intervention=intervention,
    )
    reports = synthesize_reports(rows, plan)
    # History first, then the last days in which the held-back theme appears and grows.
    split = (plan.end - timedelta(days=plan.emerging_days)).isoformat().replace("+00:00", "Z")
    history = [report for report in reports if report["created_at"] < split]
    recent = reports[len(history) :]
    print(
        f"riskradar demo: {len(reports):,} reports from {options.dataset.name}; "
        f"{options.emerging_label!r} held back until the last {plan.emerging_days:g} days",
        file=out,
    )
    # The demo reports progress itself; the local stack's per-batch log lines would drown it.
    logging.getLogger("riskradar-local").setLevel(logging.WARNING)
    with LocalStack.start(
        TEMPLATE,
        parameters={"Stage": options.stage},
        stack_name=f"riskradar-{options.stage}",
        **local_stack_options(),
    ) as stack:
        api_url = stack.serve_http()
        print(f"local stack up: API {api_url}  (moto {stack.endpoint_url})", file=out)
        # Triage consumes the intake queue while the replay is still sending, as on AWS, and a
        # downstream consumer takes the signals off their queues.
        stack.start_background()
        tap = SignalTap(stack)
        tap.start()
        summary = ReplaySummary()
        for phase, batch in (("history", history), ("recent days", recent)):
            with tqdm(total=len(batch), desc=f"replay {phase}", unit="report", file=sys.stderr) as bar:
                replayed = post_batches(api_url, batch, batch_size=options.batch_size, on_batch=bar.update)
            summary.add(replayed)
            stack.stop_background()
            stack.run_until_idle(timeout_s=1800)
            # The scheduled recluster job, fired as its EventBridge rule would be.
            run = stack.fire_schedule("ReclusterFunction")
            print_recluster(phase, run, alerts=drain_alerts(stack), out=out)
            stack.start_background()
        # Clients retry on timeouts: resend a slice, which intake must recognise as duplicates.
        retried = random.Random(options.seed).sample(reports, int(len(reports) * options.retry_share))
        summary.add(post_batches(api_url, retried, batch_size=options.batch_size))
        stack.stop_background()
        stack.run_until_idle(timeout_s=1800)
        tap.stop()
        counts = pipeline_counts(stack, tap)
        texts = report_texts(stack, [signal["report_id"] for signal in tap.top])
        print_summary(summary, counts, retried=len(retried), out=out)
        print_top_signals(tap.top, texts, out=out)
        act_as_strategist(stack, api_url, plan, reports, options.digest_dir, out=out)
    return summary


def replay_locally(
    reports: list[dict[str, Any]],
    *,
    source_name: str,
    batch_size: int = 100,
    recluster: bool = True,
    stage: str = "replay",
    out: TextIO | None = None,
) -> ReplaySummary:
    """`riskradar replay FILE` without --api-url: the reports through a local stack of their own,
    triaged while they are sent; then one recluster run (the scheduled job) if asked, and where
    every report went."""
    out = out or sys.stdout
    logging.getLogger("riskradar-local").setLevel(logging.WARNING)
    print(f"riskradar replay: {len(reports):,} reports from {source_name} through a local stack", file=out)
    with LocalStack.start(
        TEMPLATE, parameters={"Stage": stage}, stack_name=f"riskradar-{stage}", **local_stack_options()
    ) as stack:
        api_url = stack.serve_http()
        stack.start_background()
        tap = SignalTap(stack)
        tap.start()
        with tqdm(total=len(reports), desc="replay", unit="report", file=sys.stderr, disable=None) as bar:
            summary = post_batches(api_url, reports, batch_size=batch_size, on_batch=bar.update)
        stack.stop_background()
        stack.run_until_idle(timeout_s=1800)
        if recluster:
            print_recluster(
                "replay", stack.fire_schedule("ReclusterFunction"), alerts=drain_alerts(stack), out=out
            )
        tap.stop()
        counts = pipeline_counts(stack, tap)
        texts = report_texts(stack, [signal["report_id"] for signal in tap.top])
        print_summary(summary, counts, retried=0, out=out)
        print_top_signals(tap.top, texts, out=out)
    return summary


def act_as_strategist(
    stack: LocalStack,
    api_url: str,
    plan: ReplayPlan,
    reports: list[dict[str, Any]],
    digest_dir: Path,
    *,
    out: TextIO,
) -> None:
    """What a strategist does next, through the strategist API with a token of the local issuer:
    confirm the emerging theme as fraud, record the intervention the replay played in, read its
    measured effect, and have the digest written with both."""
    http = requests.Session()
    token = stack.issue_token("demo-strategist", claims=strategist_claims("strategist"))
    http.headers["Authorization"] = f"Bearer {token}"
    print("\nstrategist (through the API, as demo-strategist)", file=out)
    emerging = _api(http.get(f"{api_url}/v1/themes", params={"emerging": "true"}, timeout=60))["themes"]
    if emerging:
        theme = emerging[0]
        verdict = {
            "verdict": "fraud",
            "note": "Confirmed with the payments team: cards used without consent.",
        }
        _api(http.post(f"{api_url}/v1/themes/{theme['theme_id']}/verdict", json=verdict, timeout=60))
        print(f'  verdict       fraud on {theme["theme_id"]} "{theme["label"]}" (emerging)', file=out)
    if plan.intervention is not None:
        simulated = plan.intervention
        theme_id = _theme_holding(stack, reports, simulated)
        request = {
            "theme_id": theme_id,
            "business": simulated.business,
            "action_type": "verify",
            "action": simulated.action,
            "start": simulated.start(plan.end).isoformat(),
        }
        created = _api(http.post(f"{api_url}/v1/interventions", json=request, timeout=60))
        effect = _api(http.get(f"{api_url}/v1/interventions/{created['intervention_id']}/effect", timeout=60))
        print(
            f"  intervention  {created['intervention_id']} on {theme_id} in {simulated.business} from "
            f"{simulated.start(plan.end).date()}: {request['action']}",
            file=out,
        )
        print(
            f"                (the replay removed {simulated.reduction:.0%} of those reports from then on)",
            file=out,
        )
        print(
            f"  effect        {effect['summary'] if effect['status'] == 'ok' else effect['reason']}", file=out
        )
    _api(http.post(f"{api_url}/v1/digests", timeout=120))
    digest_dir.mkdir(parents=True, exist_ok=True)
    for accept, name in (
        ("text/html", "digest.html"),
        ("application/json", "digest.json"),
        ("text/markdown", "digest.md"),
    ):
        response = http.get(f"{api_url}/v1/digests/latest", headers={"Accept": accept}, timeout=60)
        response.raise_for_status()
        (digest_dir / name).write_text(response.text, encoding="utf-8")
    page = (digest_dir / "digest.html").resolve()
    print(f"\ndigest written: {page}\n  open {page.as_uri()}", file=out)


def _theme_holding(stack: LocalStack, reports: list[dict[str, Any]], simulated: SimulatedIntervention) -> str:
    """The theme that holds most of the simulated intervention's reports (its label, its business)."""
    wanted = {
        r["report_id"]
        for r in reports
        if r.get("category") == simulated.label and r["business"] == simulated.business
    }
    members = ThemeSnapshotStore(
        stack.client("s3"), stack.physical_id("ArtifactsBucket"), dimension=MINILM_DIMENSION
    ).current_members()
    return max(members, key=lambda theme_id: len(wanted.intersection(members[theme_id])))


def _api(response: requests.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.url}: {response.status_code} {response.text}"
        )
    return response.json()


def drain_alerts(stack: LocalStack) -> list[ThemeAlert]:
    sqs = stack.client("sqs")
    url = stack.physical_id("AlertsQueue")
    alerts = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        alerts += [ThemeAlert.model_validate_json(message["Body"]) for message in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return alerts


def print_recluster(phase: str, run: dict[str, Any], *, alerts: list[ThemeAlert], out: TextIO) -> None:
    online = [alert for alert in alerts if alert.source == "online"]
    batch = [alert for alert in alerts if alert.source != "online"]
    if online:
        print(f"\nonline detector, while the {phase} was replayed: {len(online)} alert(s)", file=out)
        for alert in sorted(online, key=lambda a: a.detected_at):
            print(
                f'  ONLINE {alert.theme_id} "{alert.theme_label}": a burst of {alert.observed} reports vs '
                f"{alert.expected:.1f} expected (surprise {alert.surprise:.1f} nats)",
                file=out,
            )
            _print_examples(alert, out)
    print(
        f"\nrecluster after the {phase}: snapshot v{run['snapshot_version']}, {run['themes']} themes "
        f"from {run['reports']:,} reports ({run['left_out']} left out), {len(run['emerging'])} emerging"
        + (f"; {_days(len(run['compacted_days']))} compacted" if run.get("compacted_days") else ""),
        file=out,
    )
    for alert in batch:
        print(
            f'  ALERT emerging theme {alert.theme_id} "{alert.theme_label}": {alert.observed} reports '
            f"recently vs {alert.expected:.1f} expected (surprise {alert.surprise:.1f} nats)",
            file=out,
        )
        if alert.provisional_theme_ids:
            print(f"        caught online first, as {', '.join(alert.provisional_theme_ids)}", file=out)
        _print_examples(alert, out)


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _print_examples(alert: ThemeAlert, out: TextIO) -> None:
    for example in alert.examples[:2]:
        print(f"        e.g. {example[:100]}", file=out)


def pipeline_counts(stack: LocalStack, tap: SignalTap) -> PipelineCounts:
    dynamodb = stack.client("dynamodb")
    stored = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=stack.physical_id("ReportsTable"), Select="COUNT"
    ):
        stored += int(page["Count"])
    return PipelineCounts(
        on_intake_queue=stack.queue_depth("IntakeQueue"),
        in_intake_dlq=stack.queue_depth("IntakeDeadLetterQueue"),
        stored=stored,
        signals={
            level: tap.received[level] + stack.queue_depth(f"Signal{level.title()}Queue")
            for level in SIGNAL_LEVELS
        },
        signal_dlqs=sum(
            stack.queue_depth(f"Signal{level.title()}DeadLetterQueue") for level in SIGNAL_LEVELS
        ),
    )


def report_texts(stack: LocalStack, report_ids: list[str]) -> dict[str, str]:
    """The stored (redacted) text of some reports, to show next to their signals."""
    table = stack.session.resource("dynamodb", endpoint_url=stack.endpoint_url).Table(
        stack.physical_id("ReportsTable")
    )
    texts = {}
    for report_id in report_ids:
        item = table.get_item(
            Key={"report_id": report_id}, ProjectionExpression="#t", ExpressionAttributeNames={"#t": "text"}
        )
        texts[report_id] = str(item.get("Item", {}).get("text", ""))
    return texts


def print_summary(summary: ReplaySummary, counts: PipelineCounts, *, retried: int, out: TextIO) -> None:
    lines = [
        ("sent", summary.sent, f"incl. {retried:,} client retries"),
        ("accepted", summary.accepted, "new reports, redacted and enqueued once"),
        ("duplicate", summary.duplicates, "retries recognised by report_id, not enqueued again"),
        ("rejected", summary.rejected, "refused with a field-level reason"),
        ("triaged", counts.stored, "embedded, scored and stored"),
        *[
            (f"{level}", counts.signals[level], f"signals routed to the {level} queue")
            for level in SIGNAL_LEVELS
        ],
        ("on queue", counts.on_intake_queue, "still waiting for triage"),
        (
            "in DLQ",
            counts.in_intake_dlq + counts.signal_dlqs,
            "failed processing, kept for inspection and redrive",
        ),
    ]
    print("", file=out)
    for name, count, meaning in lines:
        print(f"  {name:<10} {count:>7,}   {meaning}", file=out)
    print_refusals(summary, out=out)


def print_refusals(summary: ReplaySummary, *, out: TextIO, top: int = 10) -> None:
    """Why reports were not accepted, most frequent first."""
    for status, count in sorted(summary.refused_requests.items()):
        print(f"  requests refused with HTTP {status}: {count}", file=out)
    if summary.reasons:
        print("\n  not accepted, by reason:", file=out)
        for reason, count in summary.reasons.most_common(top):
            print(f"  {count:>7,}   {reason}", file=out)
        hidden = len(summary.reasons) - top
        if hidden > 0:
            print(f"           ... and {hidden} other reasons", file=out)


def print_top_signals(signals: list[dict[str, Any]], texts: dict[str, str], *, out: TextIO) -> None:
    print("\ntop signals", file=out)
    for signal in signals:
        text = texts.get(signal["report_id"], "")
        print(f"\n  [{signal['priority']} {signal['score']}] {signal['business']}: {text[:110]}", file=out)
        for reason in signal["reasons"]:
            print(f"      {reason['points']:+d}  {reason['detail']}", file=out)
