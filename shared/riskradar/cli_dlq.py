"""`riskradar dlq list | redrive`: the command-line side of riskradar.dlq.

Which stack: `--stack NAME` (and `--region`, `--profile`) for a deployed stack, with the caller's
AWS credentials; without it, the running `riskradar serve` (riskradar.local.endpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riskradar.dlq import (
    DeadLetterOperator,
    Listing,
    NoSuchDeadLetterQueue,
    format_listing,
    format_redrive,
)


class DlqCommandError(Exception):
    """The command cannot do what was asked; the message says why."""


def add_parser(commands: Any) -> None:
    """Add `dlq list` and `dlq redrive` to the `riskradar` command's subparsers."""
    dlq = commands.add_parser("dlq", help="inspect and redrive the dead-letter queues")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", help="each DLQ's depth and its messages' reasons (nothing consumed)")
    listing.add_argument("--queue", help="only this DLQ (e.g. intake, novelty, signal-critical)")
    listing.add_argument("--limit", type=int, default=50, help="messages shown per DLQ (default: 50)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    redrive = actions.add_parser("redrive", help="move DLQ messages back to their source queue")
    redrive.add_argument("--queue", required=True, help="the DLQ, e.g. intake")
    redrive.add_argument("--max", type=int, dest="max_messages", help="move at most N messages")
    redrive.add_argument("--dry-run", action="store_true", help="show what would move; move nothing")
    redrive.add_argument(
        "--resend-unknown-signals",
        action="store_true",
        help="have triage resend the signals of reports dead-lettered as 'signal outcome unknown' "
        "(only after checking that the signal consumers never got one)",
    )
    for parser in (listing, redrive):
        parser.add_argument(
            "--stack", help="a deployed stack's name (default: the running `riskradar serve`)"
        )
        parser.add_argument("--region", help="the deployed stack's region (default: your AWS configuration)")
        parser.add_argument("--profile", help="the AWS profile to use for a deployed stack")
        parser.add_argument(
            "--serve-file",
            type=Path,
            help="how to reach the local `serve` (default: the one it wrote under ~/.cache/riskradar)",
        )


def run(args: argparse.Namespace) -> int:
    try:
        operator = operator_for(args)
        if args.dlq_command == "list":
            return _list(operator, args)
        return _redrive(operator, args)
    except (DlqCommandError, NoSuchDeadLetterQueue) as error:
        print(f"riskradar: {error}", file=sys.stderr)
        return 2


def operator_for(args: argparse.Namespace) -> DeadLetterOperator:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from riskradar.adapters.queue_admin import QueueAdmin, StackQueues

    if args.stack:
        try:  # no region configured, an unknown profile: a line, not a traceback
            session = boto3.Session(region_name=args.region, profile_name=args.profile)
            cloudformation, sqs = session.client("cloudformation"), session.client("sqs")
        except BotoCoreError as error:
            raise DlqCommandError(f"{error} (pass --region and/or --profile)") from None
        stack_name = str(args.stack)
    else:
        from riskradar.local.defaults import local_serve_file
        from riskradar.local.moto_server import fake_session
        from riskradar.remote import RemoteError, running_serve

        try:
            serve = running_serve(args.serve_file or local_serve_file())
        except RemoteError as error:
            raise DlqCommandError(f"{error}; or pass --stack NAME for a deployed stack") from None
        session = fake_session(serve.region)
        cloudformation = session.client("cloudformation", endpoint_url=serve.aws_endpoint)
        sqs = session.client("sqs", endpoint_url=serve.aws_endpoint)
        stack_name = serve.stack_name
    try:
        queues = StackQueues(cloudformation, sqs).queues(stack_name)
    except (ClientError, BotoCoreError) as error:
        raise DlqCommandError(f"cannot read the queues of stack {stack_name}: {error}") from None
    return DeadLetterOperator(queues, QueueAdmin(sqs))


def _list(operator: DeadLetterOperator, args: argparse.Namespace) -> int:
    queues = [operator.select(args.queue)] if args.queue else operator.queues
    listings = [operator.list(dlq, limit=args.limit) for dlq in queues]
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps([_listing_json(listing, now) for listing in listings], indent=2))
    else:
        print("\n".join(format_listing(listing, now=now) for listing in listings))
    return 0


def _redrive(operator: DeadLetterOperator, args: argparse.Namespace) -> int:
    result = operator.redrive(
        operator.select(args.queue),
        max_messages=args.max_messages,
        dry_run=args.dry_run,
        resend_unknown_signals=args.resend_unknown_signals,
    )
    print(format_redrive(result))
    return 1 if result.failed else 0


def _listing_json(listing: Listing, now: datetime) -> dict[str, Any]:
    return {
        "queue": listing.queue.name,
        "logical_id": listing.queue.queue.logical_id,
        "url": listing.queue.queue.url,
        "sources": [source.logical_id for source in listing.queue.sources],
        "visible": listing.visible,
        "in_flight": listing.in_flight,
        "messages": [
            {
                "message_id": letter.message_id,
                "source_message_id": letter.source_message_id,
                "reason": letter.reason,
                "reason_text": letter.reason_text,
                "receive_count": letter.receive_count,
                "first_received_at": letter.first_received_at.isoformat()
                if letter.first_received_at
                else None,
                "age_s": age.total_seconds() if (age := letter.age(now)) is not None else None,
                "source_queue": letter.source_queue_arn,
            }
            for letter in listing.letters
        ],
    }
