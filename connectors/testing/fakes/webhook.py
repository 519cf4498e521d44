"""``FakeWebhookReceiver``: a warehouse/analytics collector for the signed webhook sink.

Every request must carry a fresh, valid `X-Supportsync-Signature` (the scheme documented in
`connectors/webhook/sink.py`); anything else is a violation. Accepted bodies are kept in
`received`, keyed by the `X-Supportsync-Id` header so tests can count distinct deliveries.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from connectors.testing.fakes.base import Call, FakeServer, Rejection
from connectors.webhook.sink import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


class FakeWebhookReceiver(FakeServer):
    name = "FakeWebhookReceiver"

    def __init__(self, *, secret: str = "webhook-secret", path: str = "/", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret = secret
        self.received: dict[str, Any] = {}
        self.route("POST", path, self._serve)

    @property
    def url(self) -> str:
        return self.base_url + "/"

    async def validate(self, request: web.Request, body: bytes) -> Rejection | None:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not verify_signature(self.secret, body, signature, stamp, now=time.time()):
            return Rejection(401, "bad or stale signature")
        if not request.headers.get(ID_HEADER):
            return Rejection(400, f"missing {ID_HEADER}")
        return None

    async def _serve(self, call: Call) -> web.StreamResponse:
        self.received[call.request.headers[ID_HEADER]] = call.json
        return web.json_response({"ok": True})
