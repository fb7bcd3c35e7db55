"""The `riskradar` command."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from riskradar.replay import FORMATS, ApiUnreachable, DatasetError

DESCRIPTION = """\
User-feedback risk triage, on AWS or locally.

  riskradar demo                      the shipped Banking77 data through a local stack, end to end
  riskradar replay FILE               your own complaints (CSV, TSV, JSONL) through a local stack,
                                      or with --api-url to a running `riskradar serve` or a deployed API
  riskradar serve                     the local stack and its HTTP API until Ctrl-C
  riskradar token --subject alice     a token for the strategist API of a running `serve`
  riskradar recluster                 run the scheduled recluster job now (local `serve`, or on AWS)
  riskradar digest -o digest.html     fetch the latest strategist digest
  riskradar dlq list                  the dead-letter queues and why their messages are there
  riskradar invoke intake EVENT.json  one function's handler on one event (a local stack of its own)

Run `riskradar COMMAND --help` for a command's options.
"""

REPLAY_EPILOG = """\
Each row becomes one report. Only the text column is required; what the file lacks (time, business,
reporter, subject) is synthesised, deterministically from --seed and the day: replaying the same file
again the same day sends the same reports, which intake recognises as duplicates.

Times (--time-column): ISO 8601 (2024-05-01T12:00:00Z, 2024-05-01 12:00, 2024-05-01) or Unix seconds
(or milliseconds); a time without a zone is taken as UTC. Intake refuses times more than 5 minutes in
the future. Old files: --shift-to-now moves every time by the same amount so that the latest is now,
inside the windows triage and recluster look at (the latest becomes 00:00 UTC today). Without
--time-column the reports are spread over the --days days before 00:00 UTC today, as the demo does.

Without --api-url the reports go through a local stack of their own (started in this process, gone
at exit): triaged while they are sent, then reclustered once, and the summary says where each went.
With --api-url they are posted to that API (`riskradar serve`'s, or a deployed stack's ApiUrl
output); triage then happens there, and its signals arrive on the stack's signal queues.

examples:
  riskradar replay complaints.csv --text-column body --time-column created --limit 500
  riskradar replay tickets.jsonl --text-column message --business payments --api-url http://127.0.0.1:8080
  riskradar replay complaints.csv --api-url https://abc123.execute-api.eu-west-1.amazonaws.com
"""

RECLUSTER_EPILOG = """\
Without --stack-name or --function-name: the running `riskradar serve` of this user fires the
template's schedule for ReclusterFunction now, with the event EventBridge would send.

With them: the deployed function is invoked once, synchronously (as `aws lambda invoke` would), with
the credentials and region of your AWS configuration (--profile, --region, or the AWS_* variables).
A run takes up to the function's 15-minute timeout; it is never retried by this command.
"""

DIGEST_EPILOG = """\
Against the running `riskradar serve` (the default) a token is minted with its local issuer. Against
a deployed API pass a token of your identity provider with --token or RISKRADAR_TOKEN: GET needs the
viewer or strategist role, --refresh (POST /v1/digests) the strategist role.

examples:
  riskradar digest -o digest.html
  riskradar digest --refresh --format md -o -
  export RISKRADAR_TOKEN=eyJ...   # from your identity provider
  riskradar digest --api-url https://abc123.execute-api.eu-west-1.amazonaws.com -o digest.json
"""


class CommandError(Exception):
    """The command cannot do what was asked; the message says why."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from riskradar.remote import RemoteError

    try:
        if args.command == "dlq":
            from riskradar import cli_dlq

            return cli_dlq.run(args)
        if args.command == "invoke":
            from riskradar import cli_invoke

            return cli_invoke.run(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "token":
            return _token(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "recluster":
            return _recluster(args)
        if args.command == "digest":
            return _digest(args)
        return _serve(args.port, args.admin_port)
    except (DatasetError, CommandError, RemoteError, ApiUnreachable) as error:
        print(f"riskradar: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("riskradar: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskradar", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="replay the shipped Banking77 data through the local stack")
    demo.add_argument("--dataset", type=Path, help="CSV file with a 'text' column (default: Banking77)")
    demo.add_argument("--limit", type=_positive, help="replay a seeded random sample of N rows")
    demo.add_argument("--batch-size", type=_batch_size, default=100, help="reports per batch request (1-100)")
    demo.add_argument(
        "--label-column", default="category", help="label column ('' for none; default: category)"
    )
    demo.add_argument(
        "--emerging-label",
        default="compromised_card",
        help="label held back until the last days of the replay, to emerge ('' for none)",
    )

    _add_replay_parser(commands)

    serve = commands.add_parser(
        "serve",
        help="run the local stack and its HTTP API until Ctrl-C",
        description="Run the local stack (template.yaml on moto, functions in this process) and serve its "
        "HTTP API on 127.0.0.1 until Ctrl-C. Other commands of this user reach it: `riskradar token`, "
        "`riskradar recluster`, `riskradar digest`, `riskradar replay --api-url`.",
    )
    serve.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (default: a free one)")
    serve.add_argument(
        "--admin-port", type=int, default=0, help="port of the loopback admin endpoint (default: a free one)"
    )

    token = commands.add_parser(
        "token", help="print a token that the JWT authorizers of a running `riskradar serve` accept"
    )
    token.add_argument("--subject", required=True, help="the token's sub: who is calling")
    token.add_argument("--role", help="viewer or strategist (the role claim; none if not given)")
    token.add_argument(
        "--business", action="append", default=[], help="limit the caller to this business (repeatable)"
    )
    token.add_argument("--scope", action="append", default=[], help="an OAuth scope (repeatable)")
    token.add_argument(
        "--claim", action="append", default=[], metavar="NAME=VALUE", help="any claim; VALUE may be JSON"
    )
    token.add_argument("--expires-in", type=int, default=3600, help="seconds (default: 3600)")
    token.add_argument("--audience", help="default: the audience of the running stack's authorizers")
    token.add_argument("--issuer-file", type=Path, help="default: the one `riskradar serve` wrote")

    recluster = commands.add_parser(
        "recluster",
        help="run the recluster job now: on the running `riskradar serve`, or on a deployed stack",
        description="Run the scheduled recluster job now and print what it published.",
        epilog=RECLUSTER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    deployed = recluster.add_argument_group("a deployed stack (instead of the local `serve`)")
    deployed.add_argument("--stack-name", help="the CloudFormation stack (its ReclusterFunction is run)")
    deployed.add_argument("--function-name", help="the function's name, e.g. riskradar-recluster-dev")
    deployed.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    deployed.add_argument("--profile", help="AWS profile (default: your AWS configuration's)")
    deployed.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # AWS-compatible endpoints (tests)
    recluster.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    _add_serve_file_option(recluster)

    digest = commands.add_parser(
        "digest",
        help="fetch the latest strategist digest (HTML, JSON or Markdown) into a file",
        description="Fetch GET /v1/digests/latest and write it to a file.",
        epilog=DIGEST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    digest.add_argument(
        "-o", "--output", default="digest.html", help="file to write, '-' for stdout (default: digest.html)"
    )
    digest.add_argument(
        "--format", choices=["html", "json", "md"], help="default: from the output's extension, else html"
    )
    digest.add_argument(
        "--refresh", action="store_true", help="publish a new digest first (POST /v1/digests)"
    )
    digest.add_argument("--api-url", help="the API's base URL (default: the running `riskradar serve`'s)")
    digest.add_argument(
        "--token", help="bearer token (default: $RISKRADAR_TOKEN, or minted for a local serve)"
    )
    _add_serve_file_option(digest)
    from riskradar import cli_dlq, cli_invoke

    cli_dlq.add_parser(commands)
    cli_invoke.add_parser(commands)
    return parser


def _add_replay_parser(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="send a CSV/TSV/JSONL file of complaints through intake (local stack or --api-url)",
        description="Send a file of complaints through intake as reports, and summarise the outcome.",
        epilog=REPLAY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument(
        "file", type=Path, metavar="FILE", help="CSV, TSV or JSONL (by extension, or --format)"
    )
    replay.add_argument("--format", choices=FORMATS, help="the file's format (default: from its extension)")
    columns = replay.add_argument_group("columns")
    columns.add_argument("--text-column", default="text", help="the complaint's text (default: text)")
    columns.add_argument("--label-column", help="a category, kept as the report's category")
    columns.add_argument("--time-column", help="when the complaint was made (keeps the file's times)")
    columns.add_argument("--business-column", help="the business it was filed against (shop, payments, ...)")
    columns.add_argument("--reporter-column", help="who complained (pseudonymised by intake)")
    synthesis = replay.add_argument_group("what the file does not say")
    synthesis.add_argument("--business", help="one business for every row without one (default: drawn)")
    synthesis.add_argument(
        "--days", type=_positive, default=14, help="days to spread rows without a time over (default: 14)"
    )
    synthesis.add_argument(
        "--shift-to-now", action="store_true", help="move the file's times so that the latest is now"
    )
    synthesis.add_argument("--seed", type=int, default=7, help="seed of what is synthesised (default: 7)")
    synthesis.add_argument(
        "--id-prefix", help="report ids are PREFIX-000000, ... (default: from the file name)"
    )
    sending = replay.add_argument_group("sending")
    sending.add_argument("--limit", type=_positive, help="only the first N rows with text")
    sending.add_argument("--batch-size", type=_batch_size, default=100, help="reports per request (1-100)")
    sending.add_argument("--api-url", help="post to this API instead of a local stack of the replay's own")
    sending.add_argument(
        "--recluster",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="local stack only: recluster once after triage (default: yes)",
    )


def _add_serve_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--serve-file",
        type=Path,
        help="how to reach the local `serve` (default: the one it wrote under ~/.cache/riskradar)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _batch_size(text: str) -> int:
    value = _positive(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"{value}: intake takes at most 100 reports per request")
    return value


# ------------------------------------------------------------------------------------ demo


def _demo(args: argparse.Namespace) -> int:
    from riskradar.demo import DemoOptions, run_demo

    options = DemoOptions(
        limit=args.limit,
        batch_size=args.batch_size,
        label_column=args.label_column or None,
        emerging_label=(args.emerging_label or None) if args.label_column else None,
    )
    if args.dataset:
        options = dataclasses.replace(options, dataset=args.dataset)
    run_demo(options)
    return 0


# ------------------------------------------------------------------------------------ replay


def _replay(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from riskradar.replay import Columns, ReplayPlan, read_rows, shift_to_end, synthesize_reports

    if args.api_url and args.recluster:
        raise CommandError("--recluster is for the local stack; for an API, run `riskradar recluster`")
    if args.shift_to_now and not args.time_column:
        raise CommandError("--shift-to-now moves the file's times: name them with --time-column")
    columns = Columns(
        text=args.text_column,
        label=args.label_column,
        time=args.time_column,
        business=args.business_column,
        reporter=args.reporter_column,
    )
    api_url = _checked_api_url(args.api_url) if args.api_url else None
    rows = read_rows(args.file, columns=columns, file_format=args.format)
    if args.limit:
        rows = rows[: args.limit]
    if args.business:
        rows = [row if row.business else dataclasses.replace(row, business=args.business) for row in rows]
    # Midnight UTC today, not now: a file replayed again the same day gets the same times as well as
    # the same ids, so intake answers `duplicate` instead of `conflict` (same id, other report).
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if args.shift_to_now:
        rows = shift_to_end(rows, now)
    plan = ReplayPlan(
        seed=args.seed, days=args.days, end=now, id_prefix=args.id_prefix or _id_prefix(args.file)
    )
    _check_id_prefix(plan.id_prefix)
    reports = synthesize_reports(rows, plan)
    if api_url is None:
        from riskradar.demo import replay_locally

        replay_locally(
            reports,
            source_name=args.file.name,
            batch_size=args.batch_size,
            recluster=args.recluster is not False,
        )
        return 0
    return _replay_to_api(api_url, reports, args.file.name, args.batch_size, sys.stdout)


def _replay_to_api(
    api_url: str, reports: list[dict[str, Any]], source: str, batch_size: int, out: TextIO
) -> int:
    from tqdm import tqdm

    from riskradar.demo import print_refusals
    from riskradar.replay import post_batches

    print(f"riskradar replay: {len(reports):,} reports from {source} to {api_url}", file=out)
    with tqdm(total=len(reports), desc="replay", unit="report", file=sys.stderr, disable=None) as bar:
        summary = post_batches(api_url, reports, batch_size=batch_size, on_batch=bar.update)
    print(
        f"\n  sent       {summary.sent:>7,}\n"
        f"  accepted   {summary.accepted:>7,}   new reports, redacted and enqueued for triage\n"
        f"  duplicate  {summary.duplicates:>7,}   report ids intake had already accepted\n"
        f"  rejected   {summary.rejected:>7,}   not accepted (reasons below)",
        file=out,
    )
    print_refusals(summary, out=out)
    print(
        "\nTriage runs on that stack: its signals arrive on the signal queues (the stack outputs "
        "Signal*QueueUrl); `riskradar recluster` and `riskradar digest` show themes.",
        file=out,
    )
    return 0 if summary.accepted + summary.duplicates else 1


def _checked_api_url(url: str) -> str:
    from riskradar.remote import check_api_url

    return check_api_url(url)


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]+")
#: Report ids are at most 128 characters; the prefix leaves room for "-" and a 6+ digit number.
_MAX_ID_PREFIX = 100


def _id_prefix(path: Path) -> str:
    prefix = _ID_UNSAFE.sub("-", path.stem).strip("-._:")[:_MAX_ID_PREFIX]
    return prefix or "replay"


def _check_id_prefix(prefix: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]*", prefix) or len(prefix) > _MAX_ID_PREFIX:
        raise CommandError(
            f"--id-prefix {prefix!r}: up to {_MAX_ID_PREFIX} letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )


# ------------------------------------------------------------------------------------ serve


def _serve(port: int, admin_port: int) -> int:
    from riskradar.local import LocalStack
    from riskradar.local.admin import AdminServer, ServeFile
    from riskradar.local.defaults import TEMPLATE, local_issuer_file, local_serve_file, local_stack_options

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with (
        LocalStack.start(TEMPLATE, **local_stack_options()) as stack,
        AdminServer(stack, port=admin_port) as admin,
    ):
        api_url = stack.serve_http(port)
        # Only a stack whose routes check tokens needs its signing key handed to `riskradar token`.
        issuer_file = stack.write_issuer_file(local_issuer_file()) if stack.jwt_authorizers else None
        serve = ServeFile(
            pid=os.getpid(),
            api_url=api_url,
            admin_url=admin.url,
            admin_token=admin.token,
            issuer_file=str(issuer_file) if issuer_file else None,
            aws_endpoint=stack.endpoint_url,
            region=stack.region,
            stack_name=stack.stack_name,
        )
        serve_file = serve.write(local_serve_file())
        try:
            stack.start_background()
            _print_serve_banner(api_url, stack.endpoint_url, stack.identity_provider.issuer, issuer_file)
            with contextlib.suppress(KeyboardInterrupt):
                stopped.wait()
            stack.stop_background()
        finally:
            serve.delete_if_mine(serve_file)
            if issuer_file is not None:
                stack.identity_provider.delete_issuer_file(issuer_file)
    return 0


def _print_serve_banner(api_url: str, aws_url: str, issuer: str, issuer_file: Path | None) -> None:
    report = '{"business":"shop","reporter":{"id":"u1","role":"user"},"text":"never shipped"}'
    print(f"riskradar local stack\n  API:  {api_url}\n  AWS:  {aws_url}\n")
    print(f"  try:  curl -s -X POST {api_url}/v1/reports -H 'content-type: application/json' \\")
    print(f"          -d '{report}'")
    print(f"        riskradar replay complaints.csv --api-url {api_url}")
    print("        riskradar recluster            (the hourly job, now)")
    print("        riskradar digest -o digest.html")
    if issuer_file is not None:
        mint = "$(riskradar token --subject alice --role strategist --business shop)"
        print(f"\n  JWT:  issuer {issuer}, with a key made for this run only")
        print(f"        (kept in {issuer_file}, readable by you only, deleted at exit)")
        print(f'  try:  curl -s -H "Authorization: Bearer {mint}" {api_url}/v1/themes')
    print("\n  DLQs: riskradar dlq list   (riskradar dlq redrive --queue intake, after a fix)")
    print("\nCtrl-C to stop.", flush=True)


# ------------------------------------------------------------------------------------ token


def _token(args: argparse.Namespace) -> int:
    from riskradar.local.defaults import local_issuer_file, strategist_claims
    from riskradar.local.identity import LocalIdentityProvider

    issuer_file: Path = args.issuer_file or local_issuer_file()
    if not issuer_file.is_file():
        raise CommandError(f"no running `riskradar serve` with JWT authorizers: {issuer_file} does not exist")
    try:
        issuer = LocalIdentityProvider.from_issuer_file(issuer_file)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CommandError(
            f"{issuer_file} is not an issuer file `riskradar serve` wrote ({error!r})"
        ) from None
    audience = args.audience or next(iter(issuer.audiences), None)
    if audience is None:
        raise CommandError(f"{issuer_file} names no audience: pass --audience")
    claims = strategist_claims(args.role, args.business) | dict(_claim(text) for text in args.claim)
    token = issuer.provider.issue_token(
        args.subject, audience=audience, claims=claims, scopes=args.scope, expires_in=args.expires_in
    )
    print(token)
    return 0


def _claim(text: str) -> tuple[str, Any]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise CommandError(f"--claim {text!r}: expected NAME=VALUE")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


# ------------------------------------------------------------------------------------ recluster


def _recluster(args: argparse.Namespace) -> int:
    from riskradar.remote import RECLUSTER_FUNCTION, AwsTarget, fire_local_schedule, invoke_deployed

    aws = args.stack_name or args.function_name
    if not aws and (args.region or args.profile or args.endpoint_url):
        raise CommandError(
            "--region and --profile are for a deployed stack: add --stack-name or --function-name"
        )
    if aws:
        target = AwsTarget(
            function_name=args.function_name,
            stack_name=args.stack_name,
            region=args.region,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
        )
        where, result = invoke_deployed(target)
    else:
        serve = _running_serve(args.serve_file)
        where, result = f"the local stack at {serve.api_url}", fire_local_schedule(serve, RECLUSTER_FUNCTION)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"recluster on {where}:")
    print(
        f"  snapshot v{result.get('snapshot_version')}: {result.get('themes')} themes from "
        f"{result.get('reports', 0):,} reports ({result.get('left_out')} left out), "
        f"{len(result.get('emerging') or [])} emerging, {len(result.get('alerts') or [])} alerts sent"
    )
    if result.get("digest"):
        print(f"  digest published: {', '.join(sorted(result['digest'].values()))}")
    return 0


def _running_serve(serve_file: Path | None) -> Any:
    from riskradar.local.defaults import local_serve_file
    from riskradar.remote import running_serve

    return running_serve(serve_file or local_serve_file())


# ------------------------------------------------------------------------------------ digest


def _digest(args: argparse.Namespace) -> int:
    from riskradar.remote import DIGEST_SUFFIXES, fetch_digest

    output = None if args.output == "-" else Path(args.output)
    digest_format = args.format or (DIGEST_SUFFIXES.get(output.suffix.lower(), "html") if output else "html")
    if output is not None and output.is_dir():
        raise CommandError(f"{output} is a folder: name a file, e.g. {output / ('digest.' + digest_format)}")
    api_url, token = _digest_target(args)
    text = fetch_digest(api_url, token, digest_format, refresh=args.refresh)
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {output}: {error.strerror}") from None
    print(f"digest ({digest_format}) written to {output}", file=sys.stderr)
    return 0


def _digest_target(args: argparse.Namespace) -> tuple[str, str]:
    """(API URL, token): given, or the running `serve`'s URL and a token from its issuer."""
    token = args.token or os.environ.get("RISKRADAR_TOKEN")
    if args.api_url and token:
        return _checked_api_url(args.api_url), token
    if args.api_url and not args.serve_file:
        # A deployed API: minting a local token for it would only be refused.
        raise CommandError("a token is needed for --api-url: pass --token or set RISKRADAR_TOKEN")
    serve = _running_serve(args.serve_file)
    api_url = _checked_api_url(args.api_url) if args.api_url else serve.api_url
    if token:
        return api_url, token
    if serve.issuer_file is None:
        raise CommandError("the running `riskradar serve` has no JWT authorizers to mint a token for")
    from riskradar.local.defaults import strategist_claims
    from riskradar.local.identity import LocalIdentityProvider

    issuer = LocalIdentityProvider.from_issuer_file(Path(serve.issuer_file))
    audience = next(iter(issuer.audiences), None)
    if audience is None:
        raise CommandError(f"{serve.issuer_file} names no audience")
    # A strategist: --refresh publishes a digest, which viewers may not.
    role = "strategist" if args.refresh else "viewer"
    minted = issuer.provider.issue_token(
        "riskradar-cli", audience=audience, claims=strategist_claims(role), expires_in=300
    )
    return api_url, minted


if __name__ == "__main__":
    raise SystemExit(main())
