"""CLI: `supportsync replay`, `supportsync version use|show` (SPEC S7)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings

COMMANDS = ("replay", "version")


def parse_time(text: str) -> float:
    """Unix seconds, or an ISO date/datetime (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        problem = f"not a time: {text!r} (ISO 8601 or unix seconds)"
        raise argparse.ArgumentTypeError(problem) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def add_parsers(sub: Any) -> None:
    replay = sub.add_parser(
        "replay", help="reprocess the raw topics into a new state version (live keeps serving)"
    )
    replay.add_argument("--from", dest="start", type=parse_time, required=True,
                        help="replay records received at or after this time")
    replay.add_argument("--to", dest="stop", type=parse_time, default=None,
                        help="and up to this time (default: the end captured at start)")
    replay.add_argument("--version", required=True, help="name of the new state version")
    version = sub.add_parser("version", help="show or switch the live state version")
    vsub = version.add_subparsers(dest="version_command", required=True)
    use = vsub.add_parser("use", help="make NAME the live version (read by `run` at start)")
    use.add_argument("name")
    use.add_argument("--force", action="store_true",
                     help="switch even without a finished replay into NAME")
    vsub.add_parser("show", help="print the live version")


def _bootstrap(settings: Settings) -> str | None:
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    print(
        "supportsync: set SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS to the broker `supportsync run` "
        "uses (it prints its address); the embedded broker lives inside that process",
        file=sys.stderr,
    )
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: `supportsync --help` must not pay for aiokafka and Faust.
    from app.replay import versions
    from app.replay.pipeline import ReplayWindow

    bootstrap = _bootstrap(settings)
    if bootstrap is None:
        return 2
    if args.command == "replay":
        from app.replay.runner import run_replay

        if args.stop is not None and args.stop < args.start:
            print("supportsync: --to is before --from", file=sys.stderr)
            return 2
        return run_replay(settings, bootstrap, args.version, ReplayWindow(args.start, args.stop))
    if args.version_command == "show":
        print(asyncio.run(versions.active_version(bootstrap, settings)))
        return 0
    try:
        old, copied = asyncio.run(
            versions.switch(bootstrap, settings, args.name, force=args.force)
        )
    except versions.VersionError as exc:
        print(f"supportsync: {exc}", file=sys.stderr)
        return 1
    print(
        f"supportsync: live version {old} -> {args.name} ({copied} delivered action ids "
        "carried over); restart `supportsync run`"
    )
    return 0
