"""Intercom webhook verification and routing key (SPEC S2.1).

Signature: `X-Hub-Signature: sha1=<hex HMAC-SHA1(client_secret, raw_body)>`. Intercom's scheme
carries no timestamp, so there is no stale-timestamp check here; replays of an old body are
harmless because the notification id (`id`) deduplicates them downstream.

Routing key: the contact the notification is about — `intercom_contact_id:<id>` when known,
else `email:<email>`:
- contact topics: `data.item` is the contact;
- conversation topics: `data.item.contacts.contacts[0]`, else `data.item.source.author` when
  the author is a user/lead (an admin-initiated conversation's author is the admin);
- tickets: `data.item.contacts.contacts[0]`.

`ping` (sent by "Send test request" in the Developer Hub) is verified, then put on the raw topic
like any other notification, keyed `intercom_app:<app_id>`: a 200 therefore also proves the
broker path works. Its normalizer yields no events (counted as unhandled).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.inbound import Accepted, BadPayload, BadSignature
from connectors.inbound.source import (
    any_signature_matches,
    parse_object,
    require_header,
    secret_list,
)
from contracts.events import Source, normalize_email

SIGNATURE_HEADER = "X-Hub-Signature"
_PERSON_TYPES = frozenset({"user", "lead", "contact"})


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature header value for `body`."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def _person_key(person: Any) -> str | None:
    if not isinstance(person, dict):
        return None
    contact_id = person.get("id")
    if isinstance(contact_id, str | int) and not isinstance(contact_id, bool) and str(contact_id):
        return f"intercom_contact_id:{contact_id}"
    email = person.get("email")
    if isinstance(email, str) and (cleaned := normalize_email(email)):
        return f"email:{cleaned}"
    return None


def first_contact(item: dict[str, Any]) -> dict[str, Any] | None:
    """The first contact of a conversation or ticket (`contacts.contacts[0]`)."""
    contacts = item.get("contacts")
    if isinstance(contacts, dict):
        listed = contacts.get("contacts")
        if isinstance(listed, list) and listed and isinstance(listed[0], dict):
            return listed[0]
    return None


def conversation_author(item: dict[str, Any]) -> dict[str, Any] | None:
    """`source.author` when it is a person (not an admin or a bot)."""
    source = item.get("source")
    if isinstance(source, dict):
        author = source.get("author")
        if isinstance(author, dict) and author.get("type") in _PERSON_TYPES:
            return author
    return None


def routing_key(doc: dict[str, Any]) -> str:
    """The identifier the raw record is keyed (and partitioned) by."""
    topic = doc.get("topic")
    if topic == "ping":
        return f"intercom_app:{doc.get('app_id') or 'unknown'}"
    data = doc.get("data")
    item = data.get("item") if isinstance(data, dict) else None
    if not isinstance(item, dict):
        raise BadPayload("no data.item to key the notification by", reason="no_key")
    if item.get("type") == "contact" or str(topic).startswith(("contact.", "user.")):
        candidates: list[Any] = [item]
    else:
        candidates = [first_contact(item), conversation_author(item)]
    for person in candidates:
        if (key := _person_key(person)) is not None:
            return key
    raise BadPayload("no contact id or email to key the notification by", reason="no_key")


class IntercomWebhooks:
    source: Source = "intercom"

    def __init__(self, client_secrets: str | Sequence[str]) -> None:
        self._secrets = secret_list(client_secrets)  # several while rotating

    def accept(self, body: bytes, headers: Mapping[str, str], now: float) -> Accepted:
        signature = require_header(headers, SIGNATURE_HEADER)
        given = signature.strip().lower()
        if not any_signature_matches((sign(s, body) for s in self._secrets), given):
            raise BadSignature("signature does not match")
        doc = parse_object(body)
        event_id = doc.get("id")
        topic = doc.get("topic")
        return Accepted(
            key=routing_key(doc),
            headers={"X-Intercom-Topic": str(topic)} if isinstance(topic, str) else {},
            event_id=str(event_id) if event_id else None,
        )
