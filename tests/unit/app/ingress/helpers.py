"""In-process ingress: the real aiohttp app and sources, with a fake batcher."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, cast

from aiohttp import web

from app.ingress.batcher import BrokerUnavailable, RawBatcher
from app.ingress.server import WebhookEndpoint, build_web_app
from connectors.customerio.webhook import CustomerIOWebhooks
from connectors.intercom.webhook import IntercomWebhooks
from connectors.pipelines.api import PATHS, PipelinesAPI
from connectors.zendesk.webhook import ZendeskWebhooks
from contracts.records import RawEnvelope

ZENDESK_SECRET = "zd-secret"
INTERCOM_SECRET = "ic-secret"
CIO_KEY = "cio-key"
WRITE_KEY = "write-key"


class FakeBatcher:
    """Acknowledges every envelope (keeping it), or raises BrokerUnavailable when `down`."""

    def __init__(self, max_record_bytes: int = 1024 * 1024) -> None:
        self.envelopes: list[RawEnvelope] = []
        self.down = False
        self._max_record_bytes = max_record_bytes

    _budget = RawBatcher._budget
    check = RawBatcher.check  # the real size rule: EnvelopeTooLarge past the record limit

    async def submit(self, envelope: RawEnvelope) -> None:
        self.check(envelope)
        if self.down:
            raise BrokerUnavailable("fake broker down")
        self.envelopes.append(envelope)


def build_app(batcher: FakeBatcher, max_body_bytes: int = 1024 * 1024) -> web.Application:
    raw = cast(RawBatcher, batcher)
    pipelines = PipelinesAPI(WRITE_KEY)
    endpoints = {
        "/webhooks/zendesk": WebhookEndpoint(ZendeskWebhooks(ZENDESK_SECRET), raw, max_body_bytes),
        "/webhooks/intercom": WebhookEndpoint(
            IntercomWebhooks(INTERCOM_SECRET), raw, max_body_bytes
        ),
        "/webhooks/customerio": WebhookEndpoint(CustomerIOWebhooks(CIO_KEY), raw, max_body_bytes),
        **{path: WebhookEndpoint(pipelines, raw, max_body_bytes) for path in PATHS},
    }

    async def healthy() -> tuple[bool, dict[str, Any]]:
        return True, {}

    return build_web_app(endpoints, healthy, max_body_bytes=max_body_bytes)


def intercom_headers(body: bytes) -> dict[str, str]:
    mac = hmac.new(INTERCOM_SECRET.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={mac}", "Content-Type": "application/json"}


def customerio_headers(body: bytes, ts: int) -> dict[str, str]:
    mac = hmac.new(CIO_KEY.encode(), b"v0:%d:" % ts + body, hashlib.sha256).hexdigest()
    return {"X-CIO-Signature": mac, "X-CIO-Timestamp": str(ts), "Content-Type": "application/json"}


def zendesk_headers(body: bytes, ts: str) -> dict[str, str]:
    mac = hmac.new(ZENDESK_SECRET.encode(), ts.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": ts,
        "Content-Type": "application/json",
    }


def basic(user: str = WRITE_KEY) -> dict[str, str]:
    token = base64.b64encode(f"{user}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
