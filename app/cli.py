"""The `supportsync` command line."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from app.backfill import commands as backfill_commands
from app.config import load_config
from app.replay import commands as replay_commands
from app.settings import ConfigError, Settings, load_settings
from app.status import commands as status_commands

SAMPLE_TICKET: dict[str, object] = {
    "supportsync": "zendesk-trigger/v1",
    "event_id": "sample-1001-open",
    "ticket": {
        "id": "1001",
        "status": "Open",
        "priority": "High",
        "tags": "billing refund",
        "subject": "Charged twice",
        "created_at": "2026-01-01T10:00:00Z",
        "updated_at": "2026-01-01T10:00:00Z",
    },
    "requester": {"id": "501", "email": "jane@example.com"},
}


def sample_curl(settings: Settings, port: int) -> str:
    """A shell snippet that signs the sample ticket now and POSTs it (openssl + curl)."""
    assert settings.zendesk_webhook_secret is not None
    secret = settings.zendesk_webhook_secret.get_secret_value()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ticket = {**SAMPLE_TICKET["ticket"], "created_at": now, "updated_at": now}  # type: ignore[dict-item]
    body = orjson.dumps({**SAMPLE_TICKET, "ticket": ticket}).decode()
    return "\n".join(
        [
            f"BODY={shlex.quote(body)}",
            "TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
            "SIG=$(printf '%s%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac "
            f"{shlex.quote(secret)} -binary | base64)",
            f"curl -sS -X POST http://{settings.web_host}:{port}/webhooks/zendesk \\",
            "  -H 'Content-Type: application/json' \\",
            "  -H \"X-Zendesk-Webhook-Signature: $SIG\" \\",
            "  -H \"X-Zendesk-Webhook-Signature-Timestamp: $TS\" \\",
            "  --data \"$BODY\"",
        ]
    )


def cmd_run(settings: Settings) -> int:
    from app.runtime import build_worker, prepare

    generated: dict[str, str] = {}
    if settings.embedded:
        settings, generated = settings.with_dev_secrets()
    bootstrap, broker = prepare(settings)
    try:
        from app.replay.versions import resolve

        settings = resolve(settings, bootstrap)  # the live version (`version use`)
        _topology, _pipeline, _web = build_worker(settings, bootstrap)
        mode = "embedded Tansu broker (in memory: state is lost on stop)" if broker else bootstrap
        print(f"supportsync: Kafka at {bootstrap} — {mode}", flush=True)
        url = f"http://{settings.web_host}:{settings.web_port}"
        print(f"supportsync: webhooks on {url}", flush=True)
        if not settings.customerio_configured:
            print(
                f"supportsync: Customer.io in dry-run: {settings.data_dir}/outbox/customerio.jsonl",
                flush=True,
            )
        if generated:
            print("supportsync: generated dev secrets (set SUPPORTSYNC_* to choose your own):")
            for name, value in generated.items():
                print(f"  SUPPORTSYNC_{name.upper()}={value}")
            print("supportsync: send a signed sample ticket webhook with:\n")
            print(sample_curl(settings, settings.web_port), flush=True)
            print()
        from streams.runtime.kafka import run_worker

        return run_worker(_topology.app, loglevel="INFO")
    finally:
        if broker is not None:
            broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supportsync")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the worker and webhook server (embedded broker by default)")
    status_commands.add_parsers(sub)
    replay_commands.add_parsers(sub)
    backfill_commands.add_parsers(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
        load_config()  # supportsync.yaml: a bad recipe setting stops here, naming the field
    except ConfigError as exc:
        print(f"supportsync: {exc}", file=sys.stderr)
        return 2
    if args.command == "run":
        return cmd_run(settings)
    if args.command in status_commands.COMMANDS:
        return status_commands.run(args, settings)
    if args.command in replay_commands.COMMANDS:
        return replay_commands.run(args, settings)
    if args.command in backfill_commands.COMMANDS:
        return backfill_commands.run(args, settings)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
