"""Shared harness of the recipe end-to-end tests (no tests here).

`Platforms` runs every fake destination in background threads: Customer.io, Zendesk and
Intercom (requests validated against their contracts), plus a `Collector` for the signed
HTTP webhook (signatures verified) and the ad-audience API. `start_worker` runs a real
worker process with every sink live against them and a recipe config file. Senders post
signed webhooks and Segment-spec calls exactly as the platforms would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO, FakeIntercom, FakeServer, FakeZendesk
from connectors.testing.fakes.base import Call
from connectors.testing.threaded import serve_in_thread
from connectors.webhook.sink import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from contracts.records import RawEnvelope, encode_raw_batch
from tests.integration.support import CIO_KEY, CIO_SITE, ZENDESK_SECRET, iso, post, wait_for
from tests.integration.support import zendesk_headers as zendesk_signed

INTERCOM_SECRET = "intercom-recipes-secret"
CIO_SIGNING_KEY = "cio-recipes-signing-key"
WRITE_KEY = "pipelines-recipes-key"
HOOK_SECRET = "hook-recipes-secret"
ADMIN_ID = "991"
DSN = "postgresql://postgres@127.0.0.1:5432/test"
ALL_SINKS = "customerio,zendesk,intercom,webhook,audiences,warehouse"


class Collector(FakeServer):
    """The signed-webhook receiver (R16/R18) and the ad-audience API (R17)."""

    name = "Collector"

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[dict[str, Any]] = []
        self.audiences: list[dict[str, Any]] = []
        self.route("POST", "/hook", self._hook)
        self.route("POST", "/audiences", self._audience)

    async def _hook(self, call: Call) -> web.Response:
        headers = call.request.headers
        ok = verify_signature(
            HOOK_SECRET, call.body, headers.get(SIGNATURE_HEADER, ""),
            headers.get(TIMESTAMP_HEADER, ""), now=time.time(),
        )
        if not ok:
            return web.json_response({"error": "bad signature"}, status=401)
        self.hooks.append(call.json)
        return web.Response(status=204)

    async def _audience(self, call: Call) -> web.Response:
        self.audiences.append(call.json)
        return web.json_response({"ok": True})


@dataclass
class Platforms:
    cio: FakeCustomerIO
    zendesk: FakeZendesk
    intercom: FakeIntercom
    collector: Collector
    schema: str = field(default_factory=lambda: f"recipes_{uuid.uuid4().hex[:8]}")

    def env(self, config_path: Path) -> dict[str, str]:
        return {
            "SUPPORTSYNC_SINKS": ALL_SINKS,
            "SUPPORTSYNC_CONFIG": str(config_path),
            "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
            "SUPPORTSYNC_INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
            "SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY": CIO_SIGNING_KEY,
            "SUPPORTSYNC_PIPELINES_WRITE_KEY": WRITE_KEY,
            "SUPPORTSYNC_CUSTOMERIO_TRACK_URL": self.cio.track_url,
            "SUPPORTSYNC_CUSTOMERIO_SITE_ID": CIO_SITE,
            "SUPPORTSYNC_CUSTOMERIO_API_KEY": CIO_KEY,
            "SUPPORTSYNC_ZENDESK_BASE_URL": self.zendesk.base_url,
            "SUPPORTSYNC_ZENDESK_EMAIL": "agent@example.com",
            "SUPPORTSYNC_ZENDESK_API_TOKEN": "test-token",
            "SUPPORTSYNC_INTERCOM_BASE_URL": self.intercom.base_url,
            "SUPPORTSYNC_INTERCOM_ACCESS_TOKEN": "test-token",
            "SUPPORTSYNC_INTERCOM_ADMIN_ID": ADMIN_ID,
            "SUPPORTSYNC_WEBHOOK_SINK_URL": f"{self.collector.base_url}/hook",
            "SUPPORTSYNC_WEBHOOK_SINK_SECRET": HOOK_SECRET,
            "SUPPORTSYNC_AUDIENCES_URL": f"{self.collector.base_url}/audiences",
            "SUPPORTSYNC_WAREHOUSE_DSN": DSN,
            "SUPPORTSYNC_WAREHOUSE_SCHEMA": self.schema,
        }

    def assert_no_violations(self) -> None:
        for fake in (self.cio, self.zendesk, self.intercom):
            fake.assert_no_violations()


@contextmanager
def platforms() -> Iterator[Platforms]:
    with ExitStack() as stack:
        found = Platforms(
            cio=stack.enter_context(serve_in_thread(FakeCustomerIO(site_id=CIO_SITE,
                                                                   api_key=CIO_KEY))),
            zendesk=stack.enter_context(serve_in_thread(FakeZendesk())),
            intercom=stack.enter_context(serve_in_thread(FakeIntercom())),
            collector=stack.enter_context(serve_in_thread(Collector())),
        )
        yield found
        found.assert_no_violations()


@contextmanager
def start_worker(
    bootstrap: str, found: Platforms, config: dict[str, Any], tmp: Path
) -> Iterator[WorkerProcess]:
    path = tmp / "supportsync.yaml"
    path.write_text(yaml.safe_dump(config))
    with WorkerProcess(bootstrap, env=found.env(path)) as proc:
        proc.wait_healthy(timeout=90)
        yield proc


# -- senders ------------------------------------------------------------------------------


def _ok(status: int, answer: Any) -> None:
    assert 200 <= status < 300, answer


def send_zendesk(worker: WorkerProcess, doc: dict[str, Any]) -> None:
    body = orjson.dumps(doc)
    _ok(*post(worker.url("/webhooks/zendesk"), body, zendesk_signed(body)))


def zendesk_ticket(
    ticket_id: int | str, status: str, updated: datetime, email: str, *,
    requester_id: str = "", priority: str = "normal", tags: str = "", channel: str = "API",
    created: datetime | None = None, event: str | None = None,
) -> dict[str, Any]:
    """A body rendered from the recommended Zendesk trigger template."""
    return {
        "supportsync": "zendesk-trigger/v1",
        "event_id": event or f"{ticket_id}:{iso(updated)}:{status}",
        "ticket": {
            "id": str(ticket_id), "status": status, "priority": priority, "tags": tags,
            "channel": channel, "created_at": iso(created or updated),
            "updated_at": iso(updated),
        },
        "requester": {"id": requester_id, "email": email},
    }


def send_intercom(worker: WorkerProcess, topic: str, item: dict[str, Any], *,
                  event_id: str | None = None) -> None:
    doc = {"type": "notification_event", "id": event_id or f"notif_{uuid.uuid4().hex[:12]}",
           "topic": topic, "created_at": int(time.time()), "data": {"item": item}}
    body = orjson.dumps(doc)
    sig = hmac.new(INTERCOM_SECRET.encode(), body, hashlib.sha1).hexdigest()
    _ok(*post(worker.url("/webhooks/intercom"), body,
              {"Content-Type": "application/json", "X-Hub-Signature": f"sha1={sig}"}))


def send_customerio(worker: WorkerProcess, doc: dict[str, Any]) -> None:
    body = orjson.dumps(doc)
    ts = str(int(time.time()))
    mac = hmac.new(CIO_SIGNING_KEY.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    _ok(*post(worker.url("/webhooks/customerio"), body,
              {"Content-Type": "application/json", "X-CIO-Signature": mac.hexdigest(),
               "X-CIO-Timestamp": ts}))


def cio_action(action: str, email: str, **fields: Any) -> dict[str, Any]:
    return {"supportsync": "customerio-action/v1", "event_id": f"cio-{uuid.uuid4().hex[:12]}",
            "action": action, "timestamp": int(time.time()),
            "identifiers": {"id": "", "email": email}, **fields}


def cio_metric(metric: str, email: str, **data: Any) -> dict[str, Any]:
    return {"event_id": f"cio-{uuid.uuid4().hex[:12]}", "object_type": "email",
            "metric": metric, "timestamp": int(time.time()),
            "data": {"identifiers": {"email": email}, **data}}


def send_pipelines(worker: WorkerProcess, kind: str, message: dict[str, Any]) -> None:
    body = orjson.dumps({"messageId": f"m-{uuid.uuid4().hex[:12]}", **message})
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    _ok(*post(worker.url(f"/v1/{kind}"), body,
              {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}))


def produce_raw(bootstrap: str, worker: WorkerProcess, envelopes: list[RawEnvelope]) -> None:
    """Write raw records as `supportsync replay`/backfill would (origin on the envelope)."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for envelope in envelopes:
                await producer.send_and_wait(
                    f"{worker.prefix}raw.{envelope.source}", encode_raw_batch([envelope]),
                    key=envelope.key.encode(),
                )
        finally:
            await producer.stop()

    asyncio.run(run())


def dead_letters(bootstrap: str, worker: WorkerProcess, wait_s: float = 3.0) -> list[Any]:
    async def run() -> list[Any]:
        consumer = AIOKafkaConsumer(f"{worker.prefix}dlq", bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        found: list[Any] = []
        try:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend(orjson.loads(r.value) for r in records if r.value)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(run())


def warehouse_rows(schema: str, customer_key: str | None = None) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(DSN)
        try:
            rows = await conn.fetch(f"SELECT * FROM {schema}.support_state_changed")
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await conn.close()
        found = [dict(r) for r in rows]
        return [r for r in found if customer_key is None or r["customer_key"] == customer_key]

    return asyncio.run(run())


def eventually(predicate: Callable[[], Any], what: str, timeout: float = 25.0) -> Any:
    return wait_for(predicate, timeout=timeout, what=what)


def settle(seconds: float = 2.0) -> None:
    """Give a negative case time to (not) happen."""
    time.sleep(seconds)
