"""The `riskradar` command."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from riskradar.replay import DatasetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="riskradar", description="User-feedback risk triage, on AWS or locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="replay the shipped Banking77 data through the local stack")
    demo.add_argument("--dataset", type=Path, help="CSV file with a 'text' column (default: Banking77)")
    demo.add_argument("--limit", type=int, help="replay only the first N rows")
    demo.add_argument("--batch-size", type=int, default=100, help="reports per batch request (1-100)")
    demo.add_argument(
        "--label-column", default="category", help="label column ('' for none; default: category)"
    )
    demo.add_argument(
        "--emerging-label",
        default="compromised_card",
        help="label held back until the last days of the replay, to emerge ('' for none)",
    )

    serve = commands.add_parser("serve", help="run the local stack and its HTTP API until Ctrl-C")
    serve.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (default: a free one)")

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

    from riskradar import cli_dlq

    cli_dlq.add_parser(commands)

    args = parser.parse_args(argv)
    try:
        if args.command == "dlq":
            return cli_dlq.run(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "token":
            return _token(args)
        return _serve(args.port)
    except (DatasetError, CommandError) as error:
        print(f"riskradar: {error}", file=sys.stderr)
        return 2


class CommandError(Exception):
    """The command cannot do what was asked; the message says why."""


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


def _serve(port: int) -> int:
    import os

    from riskradar.local import LocalStack
    from riskradar.local.defaults import TEMPLATE, local_issuer_file, local_stack_options
    from riskradar.local.endpoint import LocalEndpoint, local_endpoint_file

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with LocalStack.start(TEMPLATE, **local_stack_options()) as stack:
        api_url = stack.serve_http(port)
        # Only a stack whose routes check tokens needs its signing key handed to `riskradar token`.
        issuer_file = stack.write_issuer_file(local_issuer_file()) if stack.jwt_authorizers else None
        # Where `riskradar dlq` (in another process) finds this stack.
        endpoint = LocalEndpoint(stack.endpoint_url, stack.region, stack.stack_name, api_url, os.getpid())
        endpoint.write(local_endpoint_file())
        try:
            stack.start_background()
            _print_serve_banner(api_url, stack.endpoint_url, stack.identity_provider.issuer, issuer_file)
            with contextlib.suppress(KeyboardInterrupt):
                stopped.wait()
            stack.stop_background()
        finally:
            endpoint.delete(local_endpoint_file())
            if issuer_file is not None:
                stack.identity_provider.delete_issuer_file(issuer_file)
    return 0


def _print_serve_banner(api_url: str, aws_url: str, issuer: str, issuer_file: Path | None) -> None:
    report = '{"business":"shop","reporter":{"id":"u1","role":"user"},"text":"never shipped"}'
    print(f"riskradar local stack\n  API:  {api_url}\n  AWS:  {aws_url}\n")
    print(f"  try:  curl -s -X POST {api_url}/v1/reports -H 'content-type: application/json' \\")
    print(f"          -d '{report}'")
    if issuer_file is not None:
        mint = "$(riskradar token --subject alice --role strategist --business shop)"
        print(f"\n  JWT:  issuer {issuer}, with a key made for this run only")
        print(f"        (kept in {issuer_file}, readable by you only, deleted at exit)")
        print(f'  try:  curl -s -H "Authorization: Bearer {mint}" {api_url}/...')
    print("\n  DLQs: riskradar dlq list   (riskradar dlq redrive --queue intake, after a fix)")
    print("\nCtrl-C to stop.", flush=True)


def _token(args: argparse.Namespace) -> int:
    from riskradar.local.defaults import local_issuer_file, strategist_claims
    from riskradar.local.identity import LocalIdentityProvider

    issuer_file: Path = args.issuer_file or local_issuer_file()
    if not issuer_file.is_file():
        raise CommandError(f"no running `riskradar serve` with JWT authorizers: {issuer_file} does not exist")
    issuer = LocalIdentityProvider.from_issuer_file(issuer_file)
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


if __name__ == "__main__":
    raise SystemExit(main())
