from __future__ import annotations

import base64

import orjson
import pytest

from connectors.inbound import BadPayload, PayloadTooLarge, Unauthorized
from connectors.pipelines.api import PipelinesAPI

KEY = "wk_test_123"


def _basic(user: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _accept(path: str, doc: object, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    body = orjson.dumps(doc)
    return PipelinesAPI(KEY).accept_messages(
        path, body, _basic(KEY) if headers is None else headers, 0.0
    )


IDENTIFY = {
    "userId": "u-42",
    "traits": {"email": "Pat@Example.com", "plan": "pro"},
    "messageId": "m-1",
    "writeKey": KEY,
}


class TestAuth:
    """The write key as basic-auth user, a bearer token, or writeKey in the body."""

    def test_basic_auth(self) -> None:
        [m] = _accept("/v1/identify", IDENTIFY)
        assert m.key == "external_id:u-42" and m.event_id == "m-1"

    def test_bearer(self) -> None:
        assert _accept("/v1/identify", IDENTIFY, {"Authorization": f"Bearer {KEY}"})

    def test_body_write_key_without_header(self) -> None:
        assert _accept("/v1/identify", IDENTIFY, {})

    @pytest.mark.parametrize(
        "headers",
        [
            _basic("wrong"),
            {"Authorization": "Bearer nope"},
            {"Authorization": "Basic !!!"},
            {"Authorization": "Digest x"},
        ],
    )
    def test_bad_credentials(self, headers: dict[str, str]) -> None:
        with pytest.raises(Unauthorized):
            _accept("/v1/identify", IDENTIFY, headers)

    def test_no_credentials_at_all(self) -> None:
        with pytest.raises(Unauthorized):
            _accept("/v1/identify", {"userId": "u"}, {})


class TestMessages:
    """Single calls take their type from the path; batches split per message."""

    def test_stored_body_has_type_and_no_write_key(self) -> None:
        [m] = _accept("/v1/identify", {**IDENTIFY, "type": "track"})
        stored = orjson.loads(m.body)
        assert stored["type"] == "identify" and "writeKey" not in stored

    def test_batch_splits_and_keys_each_message(self) -> None:
        doc = {
            "batch": [
                {"type": "identify", "userId": "a", "messageId": "1"},
                {"type": "track", "anonymousId": "anon-9", "event": "Signed Up"},
                {"type": "group", "traits": {"email": "billing@org.example"}, "groupId": "org-1",
                 "context": {"traits": {"email": "G@Example.com"}}},
                {"type": "page", "userId": "a", "name": "Home"},
            ],
            "context": {"library": {"name": "analytics-python"}},
        }
        messages = _accept("/v1/batch", doc)
        assert [m.key for m in messages] == [
            "external_id:a",
            "anonymous_id:anon-9",
            "email:g@example.com",
            "external_id:a",
        ]
        # The batch's context is shared by every message (one bytes object), not copied in.
        assert orjson.loads(messages[1].defaults)["context"] == doc["context"]
        assert "context" not in orjson.loads(messages[1].body)
        assert len({id(m.defaults) for m in messages}) == 1
        assert messages[1].event_id.startswith("pipelines:")

    def test_empty_batch_is_fine(self) -> None:
        assert _accept("/v1/batch", {"batch": []}) == []

    @pytest.mark.parametrize(
        ("path", "doc", "reason"),
        [
            ("/v1/track", {"userId": "u"}, "no_event"),
            ("/v1/group", {"userId": "u"}, "no_group_id"),
            # a group's traits are the organization's: their email names no person
            ("/v1/group", {"groupId": "g", "traits": {"email": "org@example.com"}}, "no_key"),
            ("/v1/identify", {"traits": {}}, "no_key"),
            ("/v1/identify", {"userId": "u", "traits": [1]}, "bad_field"),
            ("/v1/batch", {"batch": {}}, "bad_batch"),
            ("/v1/batch", {"batch": [{"type": "explode", "userId": "u"}]}, "bad_message"),
            ("/v1/batch", {"batch": [1]}, "bad_message"),
            ("/v1/alias", {"previousId": "old"}, "no_key"),
            ("/v1/explode", {"userId": "u"}, "unknown_endpoint"),
        ],
    )
    def test_invalid_calls_are_400(self, path: str, doc: object, reason: str) -> None:
        with pytest.raises(BadPayload) as info:
            _accept(path, doc)
        assert info.value.reason == reason

    def test_call_limit_32kb(self) -> None:
        doc = {"userId": "u", "traits": {"blob": "x" * 33_000}}
        with pytest.raises(PayloadTooLarge):
            _accept("/v1/identify", doc)

    def test_batch_limit_500kb_and_per_message_32kb(self) -> None:
        small = [{"type": "track", "userId": "u", "event": "e", "properties": {"x": "y" * 20_000}}]
        assert len(_accept("/v1/batch", {"batch": small * 20})) == 20
        with pytest.raises(PayloadTooLarge):
            _accept("/v1/batch", {"batch": small * 30})
        big = [{"type": "track", "userId": "u", "event": "e", "properties": {"x": "y" * 40_000}}]
        with pytest.raises(PayloadTooLarge):
            _accept("/v1/batch", {"batch": big})


class TestSingleCallsLikeBatch:
    """/v1/page, /v1/screen and /v1/alias store what the same message inside a batch stores."""

    @pytest.mark.parametrize(
        ("kind", "fields"),
        [
            ("page", {"name": "Pricing", "properties": {"url": "https://x.test/pricing"}}),
            ("screen", {"name": "Settings"}),
            ("alias", {"previousId": "anon-7"}),
        ],
    )
    def test_same_as_in_batch(self, kind: str, fields: dict[str, object]) -> None:
        message = {"userId": "u-9", "messageId": f"m-{kind}", **fields}
        [single] = _accept(f"/v1/{kind}", message)
        [batched] = _accept("/v1/batch", {"batch": [{"type": kind, **message}]})
        assert (single.key, single.event_id) == (batched.key, batched.event_id)
        assert orjson.loads(single.body) == orjson.loads(batched.body)
        assert orjson.loads(single.body)["type"] == kind and single.key == "external_id:u-9"
