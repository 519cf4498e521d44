from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import orjson
import pytest

from connectors.inbound import BadPayload, BadSignature, StaleTimestamp
from connectors.zendesk.webhook import ZendeskWebhooks

SECRET = "dGhpcyBpcyBhIHNlY3JldA"


def _signed(body: bytes, ts: str, secret: str = SECRET) -> dict[str, str]:
    # Computed here from the documented scheme, not with the code under test.
    mac = hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": ts,
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


TICKET_EVENT = orjson.dumps(
    {
        "type": "zen:event-type:ticket.status_changed",
        "id": "01HQ-evt-1",
        "time": "2026-11-01T10:00:00Z",
        "subject": "zen:ticket:35436",
        "detail": {"id": "35436", "status": "SOLVED", "requester_id": "9001"},
        "event": {"current": "SOLVED", "previous": "OPEN"},
    }
)


class TestSignature:
    """A body is accepted only with a fresh, matching HMAC-SHA256 over timestamp + body."""

    def test_valid_signature_accepted_and_keyed_by_requester(self) -> None:
        now = time.time()
        headers = _signed(TICKET_EVENT, _iso(now))
        accepted = ZendeskWebhooks(SECRET).accept(TICKET_EVENT, headers, now)
        assert accepted.key == "zendesk_user_id:9001"
        assert accepted.event_id == "01HQ-evt-1"

    def test_wrong_secret_rejected(self) -> None:
        now = time.time()
        with pytest.raises(BadSignature):
            ZendeskWebhooks(SECRET).accept(
                TICKET_EVENT, _signed(TICKET_EVENT, _iso(now), "other"), now
            )

    def test_tampered_body_rejected(self) -> None:
        now = time.time()
        headers = _signed(TICKET_EVENT, _iso(now))
        with pytest.raises(BadSignature):
            ZendeskWebhooks(SECRET).accept(TICKET_EVENT.replace(b"9001", b"9002"), headers, now)

    def test_missing_headers_rejected(self) -> None:
        with pytest.raises(BadSignature):
            ZendeskWebhooks(SECRET).accept(TICKET_EVENT, {}, time.time())

    def test_stale_timestamp_rejected(self) -> None:
        now = time.time()
        headers = _signed(TICKET_EVENT, _iso(now - 301))
        with pytest.raises(StaleTimestamp):
            ZendeskWebhooks(SECRET, tolerance_s=300).accept(TICKET_EVENT, headers, now)

    def test_signed_non_object_is_bad_payload(self) -> None:
        now = time.time()
        body = b"[1, 2]"
        with pytest.raises(BadPayload):
            ZendeskWebhooks(SECRET).accept(body, _signed(body, _iso(now)), now)

    def test_signed_body_without_requester_is_bad_payload(self) -> None:
        now = time.time()
        body = b'{"type": "zen:event-type:ticket.created", "detail": {"id": "1"}}'
        with pytest.raises(BadPayload):
            ZendeskWebhooks(SECRET).accept(body, _signed(body, _iso(now)), now)


class TestSecretList:
    """Several secrets (one per Zendesk webhook, or during a rotation): any one verifies."""

    def test_any_listed_secret_verifies(self) -> None:
        now = time.time()
        for configured in (f"old-secret, {SECRET}", ["old-secret", SECRET]):
            accepted = ZendeskWebhooks(configured).accept(
                TICKET_EVENT, _signed(TICKET_EVENT, _iso(now)), now
            )
            assert accepted.key == "zendesk_user_id:9001"

    def test_unlisted_secret_refused(self) -> None:
        now = time.time()
        with pytest.raises(BadSignature):
            ZendeskWebhooks("one,two").accept(
                TICKET_EVENT, _signed(TICKET_EVENT, _iso(now), "three"), now
            )

    def test_empty_list_is_an_error(self) -> None:
        with pytest.raises(ValueError):
            ZendeskWebhooks(" , ")
