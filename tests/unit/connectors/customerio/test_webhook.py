from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from connectors.customerio.webhook import CustomerIOWebhooks
from connectors.inbound import BadPayload, BadSignature, StaleTimestamp
from tests.unit.connectors.customerio.fixtures import action, reporting

KEY = "cio-webhook-signing-key"
NOW = 1761991200.0


def _signed(body: bytes, ts: int = int(NOW), key: str = KEY) -> dict[str, str]:
    # Computed here from the documented scheme, not with the code under test.
    message = b"v0:" + str(ts).encode() + b":" + body
    return {
        "X-CIO-Signature": hmac.new(key.encode(), message, hashlib.sha256).hexdigest(),
        "X-CIO-Timestamp": str(ts),
    }


def _accept(body: bytes, headers: dict[str, str] | None = None, now: float = NOW):  # type: ignore[no-untyped-def]
    source = CustomerIOWebhooks(KEY, tolerance_s=300)
    return source.accept(body, _signed(body) if headers is None else headers, now)


class TestSignature:
    """X-CIO-Signature is hex HMAC-SHA256 over "v0:" + timestamp + ":" + raw body."""

    def test_valid(self) -> None:
        accepted = _accept(reporting("opened"))
        assert accepted.event_id == "01HQCIOOPENED"
        assert accepted.headers == {"X-CIO-Timestamp": str(int(NOW))}

    def test_wrong_key(self) -> None:
        body = reporting("opened")
        with pytest.raises(BadSignature):
            _accept(body, _signed(body, key="other"))

    def test_signature_binds_the_timestamp(self) -> None:
        body = reporting("opened")
        headers = _signed(body)
        headers["X-CIO-Timestamp"] = str(int(NOW) + 1)
        with pytest.raises(BadSignature):
            _accept(body, headers)

    @pytest.mark.parametrize("missing", ["X-CIO-Signature", "X-CIO-Timestamp"])
    def test_missing_header(self, missing: str) -> None:
        body = reporting("opened")
        headers = _signed(body)
        del headers[missing]
        with pytest.raises(BadSignature):
            _accept(body, headers)

    @pytest.mark.parametrize("skew", [-301, 301, 3600])
    def test_stale_timestamp(self, skew: int) -> None:
        body = reporting("opened")
        with pytest.raises(StaleTimestamp):
            _accept(body, _signed(body, ts=int(NOW) + skew))

    def test_within_tolerance(self) -> None:
        body = reporting("opened")
        assert _accept(body, _signed(body, ts=int(NOW) - 299)).key

    def test_unparseable_timestamp(self) -> None:
        body = reporting("opened")
        headers = _signed(body)
        headers["X-CIO-Timestamp"] = "yesterday"
        message = b"v0:yesterday:" + body
        headers["X-CIO-Signature"] = hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()
        with pytest.raises(StaleTimestamp) as info:
            _accept(body, headers)
        assert info.value.reason == "bad_timestamp"


class TestRoutingKey:
    """cio_id, else id, else email; reporting or campaign-action shape."""

    def test_reporting_prefers_cio_id(self) -> None:
        assert _accept(reporting("clicked")).key == "cio_id:d9c106000001"

    def test_action_identifiers(self) -> None:
        body = action(
            "segment_entered",
            segment="churn-risk",
            identifiers={"id": "u-7", "email": "x@example.com"},
        )
        assert _accept(body).key == "external_id:u-7"

    def test_legacy_reporting_fields(self) -> None:
        body = orjson.dumps(
            {
                "event_id": "e",
                "metric": "opened",
                "timestamp": 1,
                "data": {"email_address": "Pat@Example.com"},
            }
        )
        assert _accept(body).key == "email:pat@example.com"
        body = orjson.dumps({"metric": "opened", "data": {"customer_id": 42}})
        assert _accept(body).key == "external_id:42"

    def test_no_identifier_is_400(self) -> None:
        body = orjson.dumps({"metric": "opened", "data": {}})
        with pytest.raises(BadPayload) as info:
            _accept(body)
        assert info.value.reason == "no_key"

    @pytest.mark.parametrize("body", [b"nope", b"[]", b"1"])
    def test_not_an_object(self, body: bytes) -> None:
        with pytest.raises(BadPayload):
            _accept(body)
