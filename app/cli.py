"""The `supportsync` command line."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
    secret = settings.secret_values("zendesk_webhook_secret")[0]
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


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _reachable(host: str) -> str:
    """An address to reach a server bound to `host` from this machine."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def first_run_banner(
    settings: Settings, port: int, generated: Mapping[str, str], *, embedded: bool,
    admin_port: int | None = None,
) -> str:
    """What a new user needs once the worker is ready: where to send webhooks, a signed
    sample (with generated dev secrets), the status page and where dry-run output goes."""
    base = f"http://{_reachable(settings.web_host)}:{port}"
    admin = f"http://{_reachable(settings.admin_host)}:{admin_port or settings.admin_port}"
    from connectors.pipelines.api import PATHS as PIPELINES_PATHS

    webhooks = []
    if settings.zendesk_webhook_secret is not None:
        webhooks.append(f"{base}/webhooks/zendesk")
    if settings.intercom_client_secret is not None:
        webhooks.append(f"{base}/webhooks/intercom")
    if settings.customerio_webhook_signing_key is not None:
        webhooks.append(f"{base}/webhooks/customerio")
    if settings.pipelines_write_key is not None:
        kinds = ",".join(p.removeprefix("/v1/") for p in sorted(PIPELINES_PATHS))
        webhooks.append(f"{base}/v1/{{{kinds}}}")
    broker = "embedded broker (in memory: stopping loses all state)" if embedded else "Kafka"
    lines = [
        "",
        f"supportsync {version()} is ready — {broker}",
        "  webhooks:",
        *(f"    {url}" for url in webhooks or ["(none: no webhook secret is set)"]),
        f"  status page:  {admin}/    metrics: {admin}/metrics"
        + ("  (bearer token: SUPPORTSYNC_ADMIN_TOKEN)" if settings.admin_token else ""),
        f"  health:       {base}/healthz (liveness)  {base}/readyz (readiness)",
    ]
    dry = [name for name in settings.sink_names if not _sink_configured(settings, name)]
    if dry:
        lines.append("  dry-run sinks write their actions to:")
        lines.extend(f"    {settings.data_dir / 'outbox' / name}.jsonl" for name in dry)
    if generated:
        if settings.web_host in LOOPBACK:
            lines.append("  generated dev secrets (set SUPPORTSYNC_* to choose your own):")
            lines.extend(f"    SUPPORTSYNC_{n.upper()}={v}" for n, v in generated.items())
            if settings.zendesk_webhook_secret is not None:
                lines.append("  send a signed sample ticket (then look at the outbox):")
                lines.append("")
                lines.extend(sample_curl(settings, port).splitlines())
        else:
            lines.append("  dev secrets were generated but are not printed: the server listens "
                         "beyond loopback; set the SUPPORTSYNC_* secrets yourself")
    lines.append("")
    return "\n".join(lines)


def _sink_configured(settings: Settings, name: str) -> bool:
    s = settings
    return {
        "customerio": s.customerio_configured,
        "zendesk": s.zendesk_configured,
        "intercom": s.intercom_access_token is not None,
        "webhook": bool(s.webhook_sink_url and s.webhook_sink_secret),
        "audiences": s.audiences_url is not None,
        "warehouse": s.warehouse_dsn is not None,
    }.get(name, True)


def _announce_when_ready(
    web: Any, host: str, banner: Callable[[int], str], timeout: float = 300.0
) -> None:
    """Print the banner once, when `/readyz` first answers 200 (from a daemon thread, so
    it lands after the start-up logs rather than before the server listens)."""
    import urllib.error
    import urllib.request

    def poll() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = web.port
            if port is not None:
                try:
                    url = f"http://{_reachable(host)}:{port}/readyz"
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            print(banner(port), flush=True)
                            return
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.2)

    threading.Thread(target=poll, name="first-run-banner", daemon=True).start()


def cmd_run(settings: Settings, *, log_level: str = "INFO") -> int:
    from app.runtime import build_worker, prepare
    from streams.runtime.broker import BrokerError

    generated: dict[str, str] = {}
    if settings.embedded:
        settings, generated = settings.with_dev_secrets()
    bootstrap, broker = prepare(settings)
    broker_failed: list[BrokerError] = []

    def broker_exited(error: BrokerError) -> None:
        # The worker cannot go on without its broker, and the in-memory broker took every
        # record with it: say why, ask the worker to stop, and leave for good if its stop
        # hangs on the vanished broker.
        broker_failed.append(error)
        print(f"supportsync: {error}\nsupportsync: stopping: the worker cannot run without "
              "its broker", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Timer(5.0, os._exit, args=(1,)).start()

    try:
        from app.replay.versions import resolve

        settings = resolve(settings, bootstrap)  # the live version (`version use`)
        _topology, _pipeline, _web = build_worker(settings, bootstrap)
        if broker is not None:
            print(f"supportsync: embedded broker at {bootstrap}, its log: {broker.log_path}",
                  flush=True)
            broker.watch(broker_exited)
        else:
            print(f"supportsync: Kafka at {bootstrap}", flush=True)
        print("supportsync: starting; a summary follows once the worker is ready", flush=True)
        _announce_when_ready(
            _web,
            settings.web_host,
            lambda port: first_run_banner(
                settings, port, generated, embedded=broker is not None,
                admin_port=_web.admin_port,
            ),
        )
        from streams.runtime.kafka import run_worker

        # redirect_stdouts=False: Faust would turn the banner's print into WARNING log lines.
        code = run_worker(_topology.app, loglevel=log_level, redirect_stdouts=False)
        return 1 if broker_failed else code
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
    from streams.runtime.broker import BrokerError
    from streams.runtime.kafka import UNREACHABLE_ERRORS

    return isinstance(exc, (BrokerError, *UNREACHABLE_ERRORS))


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
        if args.command == "run":
            settings.check_serving()  # every enabled source's secret, with a real cluster
    except ConfigError as exc:
        print(f"supportsync: {exc}", file=sys.stderr)
        return 2
    from streams.runtime import kafka

    kafka.configure(settings)  # security options of every Kafka client from here on
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
