"""Zendesk webhook verification and routing key (SPEC S2.1).

Signature: base64(HMAC-SHA256(secret, timestamp + raw_body)) in X-Zendesk-Webhook-Signature,
the timestamp (ISO 8601) in X-Zendesk-Webhook-Signature-Timestamp.

Routing key: the requester's email when the body has it (trigger bodies built from our
recommended template), else the requester's Zendesk user id (event-subscribed ticket events
carry only `requester_id`), else the user id of a user event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.inbound import Accepted, BadPayload, BadSignature, StaleTimestamp
from connectors.inbound.source import (
    any_signature_matches,
    parse_object,
    require_header,
    secret_list,
)
from contracts.events import Source, normalize_email

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _parse_timestamp(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise StaleTimestamp("unparseable signature timestamp", reason="bad_timestamp") from exc


def routing_key(doc: dict[str, Any]) -> str:
    """The identifier the raw record is keyed (and partitioned) by."""
    requester = doc.get("requester")
    if isinstance(requester, dict):
        email = normalize_email(str(requester.get("email") or "")) or None
        if email:
            return f"email:{email}"
        if requester.get("id"):
            return f"zendesk_user_id:{requester['id']}"
    detail = doc.get("detail")
    event_type = str(doc.get("type", ""))
    if isinstance(detail, dict):
        if detail.get("requester_id"):
            return f"zendesk_user_id:{detail['requester_id']}"
        if event_type.startswith("zen:event-type:user.") and detail.get("id"):
            return f"zendesk_user_id:{detail['id']}"
    subject = doc.get("subject")
    if isinstance(subject, str) and subject.startswith("zen:"):
        return subject  # e.g. an organization event: keyed by what it is about
    raise BadPayload("no requester or user to key the event by", reason="no_key")


class ZendeskWebhooks:
    source: Source = "zendesk"

    def __init__(self, secrets: str | Sequence[str], tolerance_s: float = 300.0) -> None:
        # Zendesk makes one signing secret per webhook: any configured one may have signed.
        self._secrets = secret_list(secrets)
        self._tolerance = tolerance_s

    def accept(self, body: bytes, headers: Mapping[str, str], now: float) -> Accepted:
        signature = require_header(headers, SIGNATURE_HEADER)
        timestamp = require_header(headers, TIMESTAMP_HEADER)
        expected = (sign(secret, timestamp, body) for secret in self._secrets)
        if not any_signature_matches(expected, signature):
            raise BadSignature("signature does not match")
        if abs(now - _parse_timestamp(timestamp)) > self._tolerance:
            raise StaleTimestamp("signature timestamp outside the tolerance")
        doc = parse_object(body)
        event_id = doc.get("id") or doc.get("event_id")
        return Accepted(
            key=routing_key(doc),
            headers={TIMESTAMP_HEADER: timestamp},
            event_id=str(event_id) if event_id else None,
        )
