from __future__ import annotations

import hashlib
import hmac
import time

import orjson
import pytest

from connectors.inbound import BadPayload, BadSignature
from connectors.intercom.webhook import IntercomWebhooks
from tests.unit.connectors.intercom.fixtures import (
    CONTACT_ID,
    contact,
    conversation,
    notification,
)

SECRET = "intercom-client-secret"


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    # Computed here from the documented scheme, not with the code under test.
    return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def _accept(body: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return IntercomWebhooks(SECRET).accept(
        body, _signed(body) if headers is None else headers, time.time()
    )


class TestSignature:
    """X-Hub-Signature is sha1=<hex HMAC-SHA1(client_secret, raw body)>."""

    def test_known_vector(self) -> None:
        body = b'{"topic":"ping","app_id":"x","data":{"item":{}}}'
        digest = hmac.new(b"k", body, hashlib.sha1).hexdigest()
        accepted = IntercomWebhooks("k").accept(body, {"X-Hub-Signature": f"sha1={digest}"}, 0.0)
        assert accepted.key == "intercom_app:x"

    def test_upper_case_hex_accepted(self) -> None:
        body = notification("contact.user.created", contact())
        header = _signed(body)["X-Hub-Signature"]
        assert _accept(body, {"X-Hub-Signature": "sha1=" + header[5:].upper()}).key

    def test_wrong_secret_rejected(self) -> None:
        body = notification("contact.user.created", contact())
        with pytest.raises(BadSignature):
            _accept(body, _signed(body, "other"))

    def test_tampered_body_rejected(self) -> None:
        body = notification("contact.user.created", contact())
        headers = _signed(body)
        with pytest.raises(BadSignature):
            _accept(body.replace(b"Pat", b"Pam"), headers)

    def test_missing_header_rejected(self) -> None:
        with pytest.raises(BadSignature) as info:
            _accept(notification("ping", {}), {})
        assert info.value.reason == "missing_signature"

    def test_sha256_prefix_rejected(self) -> None:
        body = notification("contact.user.created", contact())
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        with pytest.raises(BadSignature):
            _accept(body, {"X-Hub-Signature": f"sha256={digest}"})


class TestRoutingKey:
    """Keyed by the contact id, else email, of the contact the item is about."""

    def test_contact_keyed_by_id(self) -> None:
        accepted = _accept(notification("contact.user.created", contact()))
        assert accepted.key == f"intercom_contact_id:{CONTACT_ID}"
        assert accepted.event_id == "notif_1"
        assert accepted.headers == {"X-Intercom-Topic": "contact.user.created"}

    def test_lead_without_id_keyed_by_normalised_email(self) -> None:
        body = notification("contact.lead.created", contact(id=None, email=" Lee@Example.COM "))
        assert _accept(body).key == "email:lee@example.com"

    def test_conversation_keyed_by_first_contact(self) -> None:
        assert _accept(notification("conversation.user.created", conversation())).key == (
            f"intercom_contact_id:{CONTACT_ID}"
        )

    def test_conversation_falls_back_to_person_author(self) -> None:
        item = conversation(contacts={"type": "contact.list", "contacts": []})
        item["source"]["author"] = {"type": "lead", "email": "lead@example.com"}
        assert _accept(notification("conversation.user.created", item)).key == (
            "email:lead@example.com"
        )

    def test_admin_author_is_not_a_key(self) -> None:
        item = conversation(contacts={"type": "contact.list", "contacts": []})
        item["source"]["author"] = {"type": "admin", "id": "814860", "email": "agent@corp.com"}
        with pytest.raises(BadPayload) as info:
            _accept(notification("conversation.admin.replied", item))
        assert info.value.reason == "no_key"

    def test_ping_is_accepted(self) -> None:
        body = orjson.dumps(
            {
                "type": "notification_event",
                "topic": "ping",
                "app_id": "a1",
                "data": {"item": {"type": "ping", "message": "hi"}},
            }
        )
        assert _accept(body).key == "intercom_app:a1"

    @pytest.mark.parametrize("body", [b"not json", b"[1]", b'"s"', b"{}"])
    def test_bad_bodies_are_400(self, body: bytes) -> None:
        with pytest.raises(BadPayload):
            _accept(body)
