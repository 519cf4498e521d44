"""Signed HTTP webhook sink (SPEC S5 R16): every action POSTed as JSON to one URL.

Settings: `SUPPORTSYNC_WEBHOOK_SINK_URL`, `SUPPORTSYNC_WEBHOOK_SINK_SECRET`.

Request: `POST <url>`, `Content-Type: application/json`, body (stable schema, version 1):

    {"version": 1, "id": <action id>, "type": <operation, e.g. "support_state_changed">,
     "customer_key": ..., "created_at": <ISO 8601>, "data": <action payload>}

Headers:

    X-Supportsync-Id          the action id: the same delivery retried or replayed carries
                              the same id, so a receiver deduplicates on it
    X-Supportsync-Timestamp   unix seconds (integer) when this attempt was signed
    X-Supportsync-Signature   "v1=" + hex(HMAC-SHA256(secret, f"{timestamp}.".encode() + body))

To verify: read the raw body bytes, recompute the HMAC over `timestamp + "." + body` with
the shared secret, compare with `hmac.compare_digest` against the hex after "v1=", and
reject timestamps more than 5 minutes from your clock (replays). `verify_signature` below
is the reference implementation. Any 2xx is success; 429/5xx are retried with backoff;
other 4xx go to the dlq with the response body.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from connectors.delivery.http import HttpClient
from connectors.delivery.sink import Sink
from contracts.actions import Action

SIGNATURE_HEADER = "X-Supportsync-Signature"
TIMESTAMP_HEADER = "X-Supportsync-Timestamp"
ID_HEADER = "X-Supportsync-Id"
SCHEME = "v1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, signature: str, timestamp: str, *, now: float, tolerance: int = 300
) -> bool:
    """Receiver side: True when the signature matches and the timestamp is fresh."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def envelope(action: Action) -> dict[str, Any]:
    return {
        "version": 1,
        "id": action.action_id,
        "type": action.operation,
        "customer_key": action.customer_key,
        "created_at": action.created_at.isoformat(),
        "data": action.payload,
    }


class WebhookSink(Sink):
    name = "webhook"

    def __init__(self, *, client: HttpClient, url: str, secret: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.url = url
        self._secret = secret

    async def send(self, action: Action) -> None:
        body = orjson.dumps(envelope(action))
        stamp = int(self.clock.time())
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: action.action_id,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self._secret, stamp, body),
        }
        await self.client.post(self.url, data=body, headers=headers)
