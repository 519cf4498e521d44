"""The `supportsync` command line."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from app.backfill import commands as backfill_commands
from app.replay import commands as replay_commands
from app.status import commands as status_commands

if TYPE_CHECKING:
    from app.settings import Settings

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


def cmd_run(settings: Settings, *, log_level: str = "INFO") -> int:
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

        return run_worker(_topology.app, loglevel=log_level)
    finally:
        if broker is not None:
            broker.stop()


EXIT_CODES = """\
exit codes:
  0    done
  1    the command ran but did not succeed (not found, refused, interrupted replay)
  2    usage or configuration error (the message names the setting or option)
  3    the broker or the worker cannot be reached
  130  interrupted (Ctrl-C)

Settings come from SUPPORTSYNC_* environment variables (see supportsync.example.yaml and
the README); `run` options override them."""

#: SUPPORTSYNC_* variables read outside the Settings classes.
OTHER_VARIABLES = frozenset({
    "SUPPORTSYNC_CONFIG",  # app.config: path of supportsync.yaml
    "SUPPORTSYNC_KEEP_TEST_DATA",  # app.testing: keep test workers' data directories
    "SUPPORTSYNC_VENDOR_SPECS",  # connectors.testing: where the vendor OpenAPI specs are
})
LOG_LEVELS = ("debug", "info", "warning", "error")


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("supportsync")
    except metadata.PackageNotFoundError:
        return "unknown"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """SUPPORTSYNC_* names in `environ` that no setting reads (a typo is otherwise silently
    ignored), each with the closest known name when there is one."""
    from app.replay.pipeline import ReplaySettings
    from app.settings import Settings

    known = {f"SUPPORTSYNC_{name.upper()}" for name in Settings.model_fields}
    known |= {f"SUPPORTSYNC_REPLAY_{name.upper()}" for name in ReplaySettings.model_fields}
    known |= OTHER_VARIABLES
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("SUPPORTSYNC_") or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.8)
        found.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supportsync",
        description="Support-aware suppression: helpdesk state in step with marketing tools.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"supportsync {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run the worker and webhook server (embedded broker by default)",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                     help="log level (default: info)")
    run.add_argument("--web-port", type=int, default=None, metavar="PORT",
                     help="web server port (default: SUPPORTSYNC_WEB_PORT or 6066)")
    run.add_argument("--config", default=None, metavar="FILE",
                     help="recipes file (default: SUPPORTSYNC_CONFIG or ./supportsync.yaml)")
    status_commands.add_parsers(sub)
    replay_commands.add_parsers(sub)
    backfill_commands.add_parsers(sub)
    return parser


def _unreachable(exc: BaseException) -> bool:
    """An error that means the broker (or a worker) cannot be reached."""
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return True
    try:
        from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable
    except ImportError:  # pragma: no cover - aiokafka is a dependency
        return False
    return isinstance(exc, KafkaConnectionError | KafkaTimeoutError | NoBrokersAvailable)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Imported after parsing: `--help` and `--version` answer without loading pydantic & co.
    from app.config import load_config
    from app.settings import ConfigError, load_settings

    log_level = (getattr(args, "log_level", None) or "info").upper()
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command != "run" and log_level != "DEBUG":
        # The commands report an unreachable broker in one line of their own (exit 3).
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if args.command == "run" and args.config:
        os.environ["SUPPORTSYNC_CONFIG"] = args.config  # read by load_config() wherever used
    for name in unknown_variables(os.environ):
        print(f"supportsync: warning: unknown variable {name} is ignored", file=sys.stderr)
    try:
        overrides: dict[str, object] = {}
        if args.command == "run" and args.web_port is not None:
            overrides["web_port"] = args.web_port
        settings = load_settings(**overrides)
        load_config()  # supportsync.yaml: a bad recipe setting stops here, naming the field
    except ConfigError as exc:
        print(f"supportsync: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "run":
            return cmd_run(settings, log_level=log_level)
        if args.command in status_commands.COMMANDS:
            return status_commands.run(args, settings)
        if args.command in replay_commands.COMMANDS:
            return replay_commands.run(args, settings)
        if args.command in backfill_commands.COMMANDS:
            return backfill_commands.run(args, settings)
    except KeyboardInterrupt:
        print("supportsync: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _unreachable(exc):
            raise
        where = settings.kafka_bootstrap_servers or "the broker"
        print(f"supportsync: cannot reach {where}: {exc or type(exc).__name__}",
              file=sys.stderr)
        return 3
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
