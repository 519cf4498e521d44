"""Customer.io webhook verification and routing key (SPEC S2.1).

Signature: `X-CIO-Signature` = hex(HMAC-SHA256(signing_key, "v0:" + X-CIO-Timestamp + ":" +
raw_body)); `X-CIO-Timestamp` is unix seconds and must be within the tolerance (default
5 minutes) of our clock. Both reporting webhooks and campaign webhook actions (see
`connectors.customerio.normalize.CAMPAIGN_BODY_TEMPLATE`) are signed the same way.

Routing key, from the first identifier present, most stable first:
`data.identifiers` (reporting) or top-level `identifiers` (campaign actions) —
`cio_id:<cio_id>`, else `external_id:<id>`, else `email:<email>`; then the older reporting
fields `data.customer_id` (→ external_id) and `data.email_address`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.inbound import Accepted, BadPayload, BadSignature, StaleTimestamp
from connectors.inbound.source import (
    any_signature_matches,
    parse_object,
    require_header,
    secret_list,
)
from contracts.events import Source, normalize_email

SIGNATURE_HEADER = "X-CIO-Signature"
TIMESTAMP_HEADER = "X-CIO-Timestamp"


def sign(key: str, timestamp: str, body: bytes) -> str:
    """The X-CIO-Signature header value for `body` signed at `timestamp`."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _parse_timestamp(value: str) -> float:
    try:
        return float(int(value.strip()))
    except (ValueError, OverflowError) as exc:
        raise StaleTimestamp("unparseable signature timestamp", reason="bad_timestamp") from exc


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def identifiers_of(doc: dict[str, Any]) -> dict[str, str]:
    """{"cio_id"?, "id"?, "email"?} from either body shape, emails normalised."""
    data = doc.get("data")
    data = data if isinstance(data, dict) else {}
    found: dict[str, str] = {}
    for source in (data.get("identifiers"), doc.get("identifiers")):
        if isinstance(source, dict):
            for name in ("cio_id", "id", "email"):
                if name not in found and (value := _text(source.get(name))):
                    found[name] = value
    if "id" not in found and (customer_id := _text(data.get("customer_id"))):
        found["id"] = customer_id
    if "email" not in found and (email := _text(data.get("email_address"))):
        found["email"] = email
    if "email" in found:
        email = normalize_email(found.pop("email"))
        if email:
            found["email"] = email
    return found


def routing_key(doc: dict[str, Any]) -> str:
    """The identifier the raw record is keyed (and partitioned) by."""
    ids = identifiers_of(doc)
    if "cio_id" in ids:
        return f"cio_id:{ids['cio_id']}"
    if "id" in ids:
        return f"external_id:{ids['id']}"
    if "email" in ids:
        return f"email:{ids['email']}"
    raise BadPayload("no identifiers to key the event by", reason="no_key")


class CustomerIOWebhooks:
    source: Source = "customerio"

    def __init__(self, signing_keys: str | Sequence[str], tolerance_s: float = 300.0) -> None:
        self._keys = secret_list(signing_keys)  # one per reporting webhook, or while rotating
        self._tolerance = tolerance_s

    def accept(self, body: bytes, headers: Mapping[str, str], now: float) -> Accepted:
        signature = require_header(headers, SIGNATURE_HEADER)
        timestamp = require_header(headers, TIMESTAMP_HEADER)
        given = signature.strip().lower()
        if not any_signature_matches((sign(k, timestamp, body) for k in self._keys), given):
            raise BadSignature("signature does not match")
        if abs(now - _parse_timestamp(timestamp)) > self._tolerance:
            raise StaleTimestamp("signature timestamp outside the tolerance")
        doc = parse_object(body)
        event_id = _text(doc.get("event_id"))
        return Accepted(
            key=routing_key(doc), headers={TIMESTAMP_HEADER: timestamp}, event_id=event_id
        )
