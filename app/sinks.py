"""Build the connector sinks a worker runs (`SUPPORTSYNC_SINKS`), from the settings (SPEC S6).

Each sink gets a token bucket sized from the platform's documented limit (configurable):

    customerio  Track API  SUPPORTSYNC_CUSTOMERIO_RATE_PER_S       100 / s
                App API    SUPPORTSYNC_CUSTOMERIO_APP_RATE_PER_S    10 / s
    zendesk                SUPPORTSYNC_ZENDESK_RATE_PER_MIN        700 / min
    intercom               SUPPORTSYNC_INTERCOM_RATE_PER_10S       166 / 10 s (~1000 / min)
    webhook                SUPPORTSYNC_WEBHOOK_SINK_RATE_PER_S      50 / s
    audiences              SUPPORTSYNC_AUDIENCES_RATE_PER_S         10 / s
    warehouse              (a connection pool; no vendor limit)

A limit of L requests per window W becomes a bucket of burst b and rate (L - b) / W, so no
sliding window of length W ever holds more than L requests. A sink whose credentials are
absent runs in dry-run mode: its actions go to the outbox (`<data_dir>/outbox`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import aiohttp

from app.settings import Settings
from connectors.audiences.sink import AudiencesSink
from connectors.customerio.sink import CustomerIOSink, identifier_key_for
from connectors.delivery.coalesce import AttributeCoalescer, LastWrittenCache
from connectors.delivery.dlq import DeadLetterWriter
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import DeliveredStore
from connectors.delivery.outbox import Outbox
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.delivery.sink import DeliveryObserver, Sink
from connectors.intercom.client import IntercomClient, intercom_http
from connectors.intercom.sink import IntercomSink
from connectors.warehouse.sink import WarehouseSink
from connectors.webhook.sink import WebhookSink
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.requesters import RequesterDirectory
from connectors.zendesk.sink import ZendeskSink
from streams.runtime import metrics

log = logging.getLogger(__name__)
# The placeholder endpoint of a dry-run sink: never contacted (the outbox takes the actions).
DRY_RUN_URL = "http://dry-run.invalid"


def window_bucket(name: str, limit: float, window: float) -> TokenBucket:
    """A bucket that never admits more than `limit` requests in any `window` seconds."""
    burst = max(1.0, min(limit * 0.05, 50.0))
    rate = max(limit - burst, 1.0) / window

    def on_wait(seconds: float, _priority: str) -> None:
        metrics.RATE_LIMIT_WAIT.labels(name).inc(seconds)

    return TokenBucket(rate, burst, name=name, on_wait=on_wait, window=window)


def requester_directory(
    settings: Settings, session: aiohttp.ClientSession
) -> RequesterDirectory | None:
    """Zendesk requester look-ups (connectors.zendesk.requesters), when Zendesk API
    credentials are set. They get a quarter of SUPPORTSYNC_ZENDESK_RATE_PER_MIN of their own,
    so the Zendesk sink's writes keep the rest."""
    s = settings
    if not s.zendesk_configured or s.zendesk_url is None:
        return None
    assert s.zendesk_email is not None and s.zendesk_api_token is not None
    bucket = window_bucket("zendesk-lookups", s.zendesk_rate_per_min / 4.0, 60.0)
    auth = (f"{s.zendesk_email.get_secret_value()}/token", s.zendesk_api_token.get_secret_value())
    http = HttpClient(session, base_url=s.zendesk_url, auth=auth, timeout=5.0)
    return RequesterDirectory(http, bucket=bucket)


def make_sinks(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    store: DeliveredStore,
    dead_letters: DeadLetterWriter,
    observer: DeliveryObserver,
    names: Iterable[str] | None = None,
) -> dict[str, Sink]:
    s = settings
    outbox = Outbox(s.data_dir)
    common: dict[str, Any] = {
        "store": store,
        "dead_letters": dead_letters,
        "observer": observer,
        "policy": RetryPolicy(deadline=s.sink_retry_deadline_s),
        "coalescer": AttributeCoalescer(window_seconds=s.sink_coalesce_ms / 1000.0),
        "last_written": LastWrittenCache(),
    }

    def secret(value: object) -> str:
        getter = getattr(value, "get_secret_value", None)
        return str(getter()) if getter is not None else ""

    sinks: dict[str, Sink] = {}
    for name in names if names is not None else s.sink_names:
        if name == "customerio":
            bucket = window_bucket("customerio", s.customerio_rate_per_s, 1.0)
            auth = (secret(s.customerio_site_id), secret(s.customerio_api_key))
            client = HttpClient(session, base_url=s.customerio_track_base, bucket=bucket, auth=auth)
            app_client = None
            if s.customerio_app_api_key is not None:
                bearer = {"Authorization": f"Bearer {secret(s.customerio_app_api_key)}"}
                app_client = HttpClient(session, base_url=s.customerio_app_base, headers=bearer)
            sinks[name] = CustomerIOSink(
                client=client, app_client=app_client,
                app_bucket=window_bucket("customerio-app", s.customerio_app_rate_per_s, 1.0),
                identifier_key=identifier_key_for(s.customerio_identifier), bucket=bucket,
                outbox=None if s.customerio_configured else outbox, **common,
            )
        elif name == "zendesk":
            bucket = window_bucket("zendesk", s.zendesk_rate_per_min, 60.0)
            auth = (f"{secret(s.zendesk_email)}/token", secret(s.zendesk_api_token))
            base = s.zendesk_url or DRY_RUN_URL
            http = HttpClient(session, base_url=base, bucket=bucket, auth=auth)
            sinks[name] = ZendeskSink(
                client=ZendeskClient(http), bucket=bucket,
                outbox=None if s.zendesk_configured else outbox, **common,
            )
        elif name == "intercom":
            bucket = window_bucket("intercom", s.intercom_rate_per_10s, 10.0)
            token = secret(s.intercom_access_token)
            http = intercom_http(session, token, base_url=s.intercom_base_url, bucket=bucket)
            sinks[name] = IntercomSink(
                client=IntercomClient(http), admin_id=s.intercom_admin_id, bucket=bucket,
                outbox=None if token else outbox, **common,
            )
        elif name == "webhook":
            bucket = window_bucket("webhook", s.webhook_sink_rate_per_s, 1.0)
            configured = bool(s.webhook_sink_url and s.webhook_sink_secret)
            sinks[name] = WebhookSink(
                client=HttpClient(session, bucket=bucket), url=s.webhook_sink_url or DRY_RUN_URL,
                secret=secret(s.webhook_sink_secret), bucket=bucket,
                outbox=None if configured else outbox, **common,
            )
        elif name == "audiences":
            bucket = window_bucket("audiences", s.audiences_rate_per_s, 1.0)
            headers = (
                {"Authorization": f"Bearer {secret(s.audiences_token)}"}
                if s.audiences_token is not None
                else None
            )
            sinks[name] = AudiencesSink(
                client=HttpClient(session, bucket=bucket, headers=headers),
                url=s.audiences_url or DRY_RUN_URL, bucket=bucket,
                outbox=None if s.audiences_url else outbox, **common,
            )
        elif name == "warehouse":
            sinks[name] = WarehouseSink(
                dsn=secret(s.warehouse_dsn), schema=s.warehouse_schema,
                bucket=TokenBucket(10_000.0, 1_000.0, name="warehouse"),
                outbox=None if s.warehouse_dsn is not None else outbox, **common,
            )
        if name in sinks:
            log.info("sink %s: %s", name, "dry-run (outbox)" if sinks[name].dry_run else "live")
    return sinks
