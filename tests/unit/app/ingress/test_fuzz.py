"""Hypothesis fuzzing of every ingress endpoint, in-process (aiohttp test server)."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.app.ingress.helpers import (
    FakeBatcher,
    basic,
    build_app,
    customerio_headers,
    intercom_headers,
    zendesk_headers,
)

MAX_BODY = 16 * 1024
EXAMPLES = 1000

_ids = st.one_of(st.none(), st.integers(-5, 2**63 - 1), st.text(max_size=12), st.booleans())
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)
_emails = st.one_of(st.sampled_from(["Pat@Example.com", " a@b.co ", "@", ""]), _ids)
_person = st.fixed_dictionaries({}, optional={"id": _ids, "email": _emails, "type": _ids})
_plausible: dict[str, st.SearchStrategy[Any]] = {
    "/webhooks/zendesk": st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["zen:event-type:ticket.created", "zen:event-type:user.created", "other"]
            )
        },
        optional={
            "id": _ids,
            "detail": st.fixed_dictionaries({}, optional={"id": _ids, "requester_id": _ids}),
            "requester": _person,
        },
    ),
    "/webhooks/intercom": st.fixed_dictionaries(
        {
            "topic": st.sampled_from(
                [
                    "ping",
                    "contact.user.created",
                    "conversation.user.created",
                    "conversation.rating.added",
                    "x",
                ]
            )
        },
        optional={
            "id": _ids,
            "app_id": _ids,
            "data": st.fixed_dictionaries(
                {},
                optional={
                    "item": st.one_of(
                        _person,
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "contacts": st.fixed_dictionaries(
                                    {}, optional={"contacts": st.lists(_person, max_size=2)}
                                ),
                                "source": st.fixed_dictionaries({}, optional={"author": _person}),
                            },
                        ),
                    )
                },
            ),
        },
    ),
    "/webhooks/customerio": st.fixed_dictionaries(
        {},
        optional={
            "metric": _ids,
            "action": _ids,
            "event_id": _ids,
            "identifiers": _person,
            "data": st.fixed_dictionaries(
                {}, optional={"identifiers": _person, "customer_id": _ids, "email_address": _ids}
            ),
        },
    ),
}
_message = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["identify", "track", "group", "page", "bogus"]),
        "userId": _ids,
        "anonymousId": _ids,
        "event": _ids,
        "groupId": _ids,
        "messageId": _ids,
        "traits": st.one_of(_person, _json),
        "properties": _json,
        "writeKey": st.sampled_from(["write-key", "x"]),
    },
)
for _path in ("/v1/identify", "/v1/track", "/v1/group"):
    _plausible[_path] = _message
_plausible["/v1/batch"] = st.fixed_dictionaries(
    {},
    optional={
        "batch": st.one_of(st.lists(_message, max_size=5), _json),
        "context": _json,
        "writeKey": st.just("write-key"),
    },
)

_header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_junk_headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Hub-Signature",
            "X-CIO-Signature",
            "X-CIO-Timestamp",
            "Authorization",
            "X-Zendesk-Webhook-Signature",
            "X-Zendesk-Webhook-Signature-Timestamp",
            "Content-Type",
            "X-Other",
        ]
    ),
    _header_text,
    max_size=4,
)


def _bodies(path: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b'{"userId": 1e400}', b'{"id": 123456789012345678901234567890}']),
        _json.map(orjson.dumps),
        _plausible[path].map(orjson.dumps),
        _plausible[path].map(orjson.dumps),
        st.integers(MAX_BODY - 64, MAX_BODY + 64).map(lambda n: b'{"a":"' + b"x" * n + b'"}'),
    )


def _signer(path: str) -> Callable[[bytes, int], dict[str, str]]:
    if path == "/webhooks/intercom":
        return lambda body, skew: intercom_headers(body)
    if path == "/webhooks/customerio":
        return lambda body, skew: customerio_headers(body, int(time.time()) + skew)
    if path == "/webhooks/zendesk":
        return lambda body, skew: zendesk_headers(
            body, datetime.fromtimestamp(time.time() + skew, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    return lambda body, skew: basic()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[asyncio.AbstractEventLoop, TestClient, FakeBatcher]]:  # type: ignore[type-arg]
    loop = asyncio.new_event_loop()
    batcher = FakeBatcher()
    client = TestClient(TestServer(build_app(batcher, max_body_bytes=MAX_BODY)), loop=loop)
    loop.run_until_complete(client.start_server())
    yield loop, client, batcher
    loop.run_until_complete(client.close())
    loop.close()


@pytest.mark.parametrize("path", list(_plausible))
class TestFuzz:
    """Any request gets a 4xx, a 2xx only after the ack, or 503 only when the broker is down."""

    def test_endpoint(self, path: str, served: tuple[Any, Any, FakeBatcher]) -> None:
        loop, client, batcher = served
        signer = _signer(path)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            body=_bodies(path),
            sign=st.booleans(),
            skew=st.sampled_from([0, 0, -400, 400]),
            junk=_junk_headers,
            gzipped=st.booleans(),
            down=st.booleans(),
        )
        def check(
            body: bytes, sign: bool, skew: int, junk: dict[str, str], gzipped: bool, down: bool
        ) -> None:
            headers = {**junk, **signer(body, skew)} if sign else dict(junk)
            if gzipped:
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
                headers["Connection"] = "close"  # a body that does not inflate ends the connection
            batcher.down = down
            before = len(batcher.envelopes)

            async def post() -> tuple[int, bytes]:
                resp = await client.post(path, data=body, headers=headers)
                return resp.status, await resp.read()

            status, answer = loop.run_until_complete(post())
            if 200 <= status < 300:
                # 2xx only after the ack: records were acknowledged, or (an empty /v1 batch)
                # there was nothing to acknowledge.
                grew = len(batcher.envelopes) > before
                assert grew or (answer == b'{"success":true}' and path == "/v1/batch")
            elif status >= 500:
                assert status == 503 and down, (status, answer)
            else:
                assert 400 <= status < 500, status
                assert len(batcher.envelopes) == before

        check()

        async def health() -> int:
            return (await client.get("/healthz")).status

        assert loop.run_until_complete(health()) == 200
