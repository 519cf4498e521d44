from __future__ import annotations

import pytest

from connectors.delivery.errors import (
    MAX_ERROR_BODY_BYTES,
    ClientError,
    Conflict,
    DeadlineExceeded,
    DeliveryError,
    RateLimited,
    ServerError,
    SinkBackpressureError,
    TransportError,
)
from tests.unit.connectors.delivery.helpers import make_action


class TestClassification:
    """Retriability is a property of the class, and everything shares one root."""

    @pytest.mark.parametrize(
        ("error", "retriable"),
        [
            (RateLimited(3.0), True),
            (ServerError(503), True),
            (TransportError("timeout"), True),
            (ClientError(422, b"{}"), False),
            (Conflict(b"exists"), False),
            (DeadlineExceeded(ServerError(500), 3, 10.0), False),
            (SinkBackpressureError(60.0), False),
        ],
    )
    def test_retriable_flag(self, error: DeliveryError, retriable: bool) -> None:
        assert isinstance(error, DeliveryError)
        assert error.retriable is retriable
        assert type(error).retriable is retriable

    def test_retriable_ignores_message_text(self) -> None:
        assert ClientError(400, message="timeout, please retry").retriable is False
        assert TransportError("bad request").retriable is True

    def test_conflict_is_a_client_error_with_409(self) -> None:
        err = Conflict(b'{"errors":[{"code":"conflict"}]}')
        assert isinstance(err, ClientError)
        assert err.status == 409
        assert err.body is not None and "conflict" in err.body

    def test_payload_attributes(self) -> None:
        assert RateLimited(2.5).retry_after == 2.5
        assert RateLimited(None).retry_after is None
        err = ClientError(422, b'{"error":"invalid email"}')
        assert err.status == 422 and err.body == '{"error":"invalid email"}'
        assert ServerError(503, retry_after=4.0).retry_after == 4.0

    def test_body_is_bounded(self) -> None:
        err = ClientError(400, b"x" * (MAX_ERROR_BODY_BYTES * 2))
        assert err.body is not None and len(err.body) == MAX_ERROR_BODY_BYTES

    def test_deadline_carries_last_error(self) -> None:
        last = ServerError(502, body=b"bad gateway")
        err = DeadlineExceeded(last, attempts=4, elapsed=31.0)
        assert err.last_error is last and err.attempts == 4
        assert err.status == 502 and err.body == "bad gateway"
        assert "ServerError" in str(err)

    def test_backpressure_carries_remaining(self) -> None:
        action = make_action(1)
        err = SinkBackpressureError(12.0, remaining=[action])
        assert err.retry_after == 12.0 and err.remaining == [action]
