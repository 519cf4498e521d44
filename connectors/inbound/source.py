"""The contract between the web server and one inbound source (one per platform).

A source verifies a request over the raw bytes and picks the routing key; it parses no more
than that. Normalizing into `SupportEvent`s happens later, in the stream, from the raw record.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from connectors.inbound.errors import BadPayload, BadSignature
from contracts.events import Source


@dataclass(frozen=True)
class Accepted:
    """A verified request: the routing key and the headers worth keeping on the raw record."""

    key: str
    headers: dict[str, str]
    event_id: str | None = None


class WebhookSource(Protocol):
    source: Source

    def accept(self, body: bytes, headers: Mapping[str, str], now: float) -> Accepted:
        """Verify and pick the key; raise an InboundError subclass to reject."""
        ...


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BadPayload."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadPayload("body is not JSON", reason="not_json") from exc
    if not isinstance(doc, dict):
        raise BadPayload("body is not a JSON object", reason="not_object")
    return doc


def signatures_match(expected: bytes | str, given: bytes | str) -> bool:
    """Constant-time comparison; str arguments are compared as UTF-8 bytes. Header values
    carrying bytes that are not UTF-8 (aiohttp keeps them as surrogates) never match."""
    try:
        a = expected.encode() if isinstance(expected, str) else expected
        b = given.encode() if isinstance(given, str) else given
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(a, b)


def secret_list(secrets: str | Sequence[str]) -> tuple[str, ...]:
    """Every accepted secret: a sequence, or one string of comma-separated secrets (one per
    webhook, or the old and the new one while rotating). Blanks are dropped."""
    items = secrets.split(",") if isinstance(secrets, str) else list(secrets)
    found = tuple(item.strip() for item in items if item.strip())
    if not found:
        raise ValueError("no secret given")
    return found


def any_signature_matches(expected: Iterable[bytes | str], given: bytes | str) -> bool:
    """Whether `given` matches one of the expected signatures (each compared in constant
    time, all of them always compared)."""
    matched = False
    for candidate in expected:
        matched |= signatures_match(candidate, given)
    return matched


def require_header(headers: Mapping[str, str], name: str) -> str:
    """A signature header's value: present and ASCII (signatures, timestamps and keys all
    are), else BadSignature (401)."""
    value = headers.get(name)
    if not value:
        raise BadSignature(f"missing {name} header", reason="missing_signature")
    if not value.isascii():
        raise BadSignature(f"{name} header is not ASCII", reason="bad_signature")
    return value
