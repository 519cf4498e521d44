"""CLI: `supportsync backfill zendesk|intercom --since DATE` (SPEC S2.2)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

from app.replay.commands import parse_time

if TYPE_CHECKING:
    import aiohttp

    from app.backfill.sources import BackfillSource
    from app.settings import Settings

COMMANDS = ("backfill",)


def add_parsers(sub: Any) -> None:
    parser = sub.add_parser("backfill", help="poll a helpdesk's history into the raw topics")
    parser.add_argument("platform", choices=("zendesk", "intercom"))
    parser.add_argument("--since", type=parse_time, required=True,
                        help="records updated at or after this date/time (ISO 8601)")
    parser.add_argument("--restart", action="store_true",
                        help="ignore the stored cursor and start again from --since")
    parser.add_argument("--per-page", type=int, default=None, help="page size to ask for")


def _source(platform: str, settings: Settings, session: aiohttp.ClientSession,
            per_page: int | None) -> BackfillSource | str:
    from app.backfill.sources import IntercomSource, ZendeskSource
    from app.sinks import window_bucket
    from connectors.delivery.http import HttpClient
    from connectors.intercom.client import intercom_http
    from connectors.intercom.search import ConversationSearch
    from connectors.zendesk.export import ZendeskExport

    s = settings
    if platform == "zendesk":
        if not s.zendesk_configured:
            return "set SUPPORTSYNC_ZENDESK_SUBDOMAIN (or _BASE_URL), _EMAIL and _API_TOKEN"
        assert s.zendesk_url and s.zendesk_email and s.zendesk_api_token
        bucket = window_bucket("zendesk", s.zendesk_rate_per_min, 60.0)
        token = s.zendesk_api_token.get_secret_value()
        auth = (f"{s.zendesk_email.get_secret_value()}/token", token)
        http = HttpClient(session, base_url=s.zendesk_url, bucket=bucket, auth=auth, timeout=60)
        return ZendeskSource(ZendeskExport(http, bucket=bucket, per_page=per_page))
    if s.intercom_access_token is None:
        return "set SUPPORTSYNC_INTERCOM_ACCESS_TOKEN"
    bucket = window_bucket("intercom", s.intercom_rate_per_10s, 10.0)
    http = intercom_http(session, s.intercom_access_token.get_secret_value(),
                         base_url=s.intercom_base_url, bucket=bucket, timeout=60)
    return IntercomSource(ConversationSearch(http, bucket=bucket, per_page=per_page or 150))


async def backfill(args: argparse.Namespace, settings: Settings, bootstrap: str) -> int:
    # Imported here: `supportsync --help` must not pay for aiohttp and aiokafka.
    import aiohttp

    from app.backfill.runner import Backfill
    from app.backfill.state import StateFile
    from app.backfill.writer import RawWriter
    from streams.runtime.broker import ensure_topics

    await ensure_topics(bootstrap, [settings.topic(f"raw.{args.platform}")], settings.partitions)
    async with aiohttp.ClientSession() as session:
        source = _source(args.platform, settings, session, args.per_page)
        if isinstance(source, str):
            print(f"supportsync: {source}", file=sys.stderr)
            return 2
        topic = settings.topic(f"raw.{args.platform}")
        async with RawWriter(
            bootstrap, topic, settings.partitions, settings.kafka_max_request_bytes
        ) as writer:
            job = Backfill(source, writer, StateFile(settings.data_dir, args.platform))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, job.stop_requested.set)
            state = await job.run(args.since, restart=args.restart)
    print(f"supportsync: backfill {args.platform}: {state.written} records written to {topic}"
          + ("" if state.done else " so far (resume by running the same command)"))
    return 0 if state.done else 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.kafka_bootstrap_servers:
        print("supportsync: set SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS to the broker `supportsync "
              "run` uses (it prints its address)", file=sys.stderr)
        return 2
    return asyncio.run(backfill(args, settings, settings.kafka_bootstrap_servers))
