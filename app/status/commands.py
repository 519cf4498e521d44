"""The operator subcommands: `dlq list|show|redrive`, `state show`, `forget` and `audit`
(wired by app.cli)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from app.status.client import StateUnavailable, fetch_state, format_audit, format_state

if TYPE_CHECKING:
    from app.settings import Settings
    from app.status import deadletters as dlq

COMMANDS = ("dlq", "state", "forget", "audit")


def add_parsers(sub: Any) -> None:
    """Register `dlq` and `state` on the CLI's subparsers."""
    d = sub.add_parser("dlq", help="inspect and re-send dead letters")
    dsub = d.add_subparsers(dest="dlq_command", required=True)
    for name, text in (
        ("list", "list dead letters (oldest first)"),
        ("show", "print dead letters in full (JSON)"),
        ("redrive", "re-send actions to out.<sink>, raw envelopes to raw.<source>, "
                    "route dead letters to be routed again"),
    ):
        p = dsub.add_parser(name, help=text)
        p.add_argument("ids", nargs="*", help="entry ids <partition>:<offset> (as listed)")
        p.add_argument("--source", help="only this source (zendesk, intercom, ...)")
        p.add_argument("--sink", help="only this sink (customerio, zendesk, ...)")
        p.add_argument("--reason", help="only this reason (client_error, malformed_payload, ...)")
        if name == "list":
            p.add_argument("--json", action="store_true", help="one JSON object per line")
        if name == "redrive":
            p.add_argument("--all", action="store_true", help="allow redriving without a filter")
            p.add_argument("--dry-run", action="store_true", help="print, send nothing")
    s = sub.add_parser("state", help="explain a customer's support state")
    ssub = s.add_subparsers(dest="state_command", required=True)
    show = ssub.add_parser("show", help="ask the running worker's /state/ endpoint")
    show.add_argument("identifier", help="email, customer key (c:...) or <kind>:<value>")
    show.add_argument(
        "--url", help="worker admin URL (default: from SUPPORTSYNC_ADMIN_HOST/ADMIN_PORT)"
    )
    show.add_argument("--json", action="store_true", help="print the JSON answer")
    forget = sub.add_parser(
        "forget", help="erase a person: state, identity links, last-sent entries (GDPR/CCPA)"
    )
    forget.add_argument("identifier", help="email, customer key (c:...) or <kind>:<value>")
    forget.add_argument("--url", help="worker admin URL (default: from SUPPORTSYNC_ADMIN_*)")
    audit = sub.add_parser("audit", help="list what was delivered for a person, where, when")
    audit.add_argument("identifier", help="email, customer key (c:...) or <kind>:<value>")
    audit.add_argument("--url", help="worker admin URL (default: from SUPPORTSYNC_ADMIN_*)")
    audit.add_argument("--json", action="store_true", help="print the JSON answer")


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    if args.command in ("state", "forget", "audit"):
        return _ask_worker(args, settings, out)
    return _dlq(args, settings, out)


def _ask_worker(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    host = "127.0.0.1" if settings.admin_host in ("0.0.0.0", "::") else settings.admin_host
    base = args.url or f"http://{host}:{settings.admin_port}"
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    path, method = {
        "state": ("state", "GET"), "forget": ("state", "DELETE"), "audit": ("audit", "GET"),
    }[args.command]
    try:
        status, doc = fetch_state(base, args.identifier, token=token, path=path, method=method)
    except StateUnavailable as exc:
        print(f"supportsync: {exc}", file=sys.stderr)
        return 3  # the worker cannot be reached (see `supportsync --help`)
    ok = status == (202 if args.command == "forget" else 200)
    if getattr(args, "json", False) or not ok or args.command == "forget":
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode(), file=out)
    elif args.command == "audit":
        print(format_audit(doc), file=out)
    else:
        print(format_state(doc), file=out)
    return 0 if ok else 1


def _dlq(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from app.status import deadletters as dlq  # imports Faust: only for these commands

    filters = dlq.Filters(args.source, args.sink, args.reason, frozenset(args.ids))
    if args.dlq_command == "redrive" and filters == dlq.Filters() and not args.all:
        print("supportsync: redrive needs ids or a filter (or --all)", file=sys.stderr)
        return 2
    try:
        entries = dlq.read_entries(settings, filters)
        if args.dlq_command == "list":
            _print_list(entries, args.json, out)
        elif args.dlq_command == "show":
            for e in entries:
                doc = {**e.summary(), "record": e.doc}
                print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode(), file=out)
        else:
            _print_redrive(dlq.redrive(settings, entries, dry_run=args.dry_run), args.dry_run, out)
    except ValueError as exc:
        print(f"supportsync: {exc}", file=sys.stderr)
        return 2
    return 0


def _print_list(entries: list[dlq.Entry], as_json: bool, out: TextIO) -> None:
    if as_json:
        for e in entries:
            print(orjson.dumps(e.summary()).decode(), file=out)
        return
    print(f"{'ID':<10} {'AT':<20} {'STAGE':<16} {'SOURCE':<10} {'REASON':<20} DETAIL", file=out)
    for e in entries:
        print(
            f"{e.id:<10} {e.at:<20} {e.stage:<16} {e.source or '-':<10} {e.reason:<20} "
            f"{e.detail[:60]}",
            file=out,
        )
    print(f"{len(entries)} dead letter(s)", file=out)


def _print_redrive(plans: list[dlq.Redrive], dry_run: bool, out: TextIO) -> None:
    verb = "would send" if dry_run else "sent"
    for p in plans:
        if p.topic is None:
            print(f"{p.entry.id}: skipped ({p.why_not})", file=out)
        else:
            print(f"{p.entry.id}: {verb} to {p.topic}", file=out)
    done = sum(1 for p in plans if p.topic is not None)
    print(f"{'would redrive' if dry_run else 'redriven'} {done}, skipped {len(plans) - done}",
          file=out)
