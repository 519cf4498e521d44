"""Delivery errors (SPEC S6): one root, and retriability decided by the class.

    DeliveryError                     root; `retriable` is a class attribute
    ├── RateLimited                   429; retriable; carries `retry_after` seconds
    ├── ServerError                   5xx; retriable; may carry `retry_after` (503)
    ├── TransportError                timeouts, resets, refused connections; retriable
    ├── ClientError                   other 4xx; NOT retriable; carries `status` and `body`
    │   └── Conflict                  409; "already exists" for read-your-writes handling
    ├── DeadlineExceeded              retry budget spent; NOT retriable; carries `last_error`
    └── SinkBackpressureError         the caller must pause consumption for `retry_after`
                                      (quix-streams style), neither drop nor buffer

Callers branch on `isinstance` / `error.retriable`, never on message text. Messages never
contain request bodies, URLs with identifiers or credentials: a platform path can embed an
email (`/api/v1/customers/{email}`), so only the method, host and status are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from connectors.delivery.sink import DeliveryReport
    from contracts.actions import Action

# A response body is kept for the dead letter, but bounded so a huge HTML error page
# cannot blow up memory or the dlq topic.
MAX_ERROR_BODY_BYTES = 64 * 1024


def _clip(body: bytes | str | None) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        body = body[:MAX_ERROR_BODY_BYTES].decode("utf-8", errors="replace")
    return body[:MAX_ERROR_BODY_BYTES]


class DeliveryError(Exception):
    """Root of every error a sink can raise while delivering an action."""

    retriable: ClassVar[bool] = False

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        body: bytes | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or type(self).__name__)
        self.status = status
        self.body = _clip(body)
        self.retry_after = retry_after


class RateLimited(DeliveryError):
    """429: wait `retry_after` seconds (or back off when the platform did not say)."""

    retriable = True

    def __init__(
        self,
        retry_after: float | None = None,
        message: str = "",
        *,
        status: int = 429,
        body: bytes | str | None = None,
    ) -> None:
        super().__init__(
            message or f"rate limited (retry after {retry_after})",
            status=status,
            body=body,
            retry_after=retry_after,
        )


class ServerError(DeliveryError):
    """5xx from the platform: transient by assumption."""

    retriable = True

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        body: bytes | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message or f"server error {status}", status=status, body=body, retry_after=retry_after
        )


class TransportError(DeliveryError):
    """No usable HTTP response: timeout, connection reset/refused, truncated body."""

    retriable = True


class ClientError(DeliveryError):
    """4xx other than 429: the request itself is wrong; retrying cannot help."""

    retriable = False

    def __init__(self, status: int, body: bytes | str | None = None, message: str = "") -> None:
        super().__init__(message or f"client error {status}", status=status, body=body)


class Conflict(ClientError):
    """409: the object already exists (Intercom duplicate create); callers look it up."""

    def __init__(self, body: bytes | str | None = None, message: str = "") -> None:
        super().__init__(409, body, message or "conflict (409)")


class DeadlineExceeded(DeliveryError):
    """The retry budget is spent; `last_error` is what the final attempt raised."""

    retriable = False

    def __init__(self, last_error: DeliveryError, attempts: int, elapsed: float) -> None:
        super().__init__(
            f"gave up after {attempts} attempts in {elapsed:.1f}s: "
            f"{type(last_error).__name__}: {last_error}",
            status=last_error.status,
            body=last_error.body,
        )
        self.last_error = last_error
        self.attempts = attempts
        self.elapsed = elapsed


class SinkBackpressureError(DeliveryError):
    """The platform asked us to stop for longer than is sensible to hold a batch.

    The consumer pauses its partitions for `retry_after` seconds and then calls
    `Sink.deliver(remaining)` again; nothing is dropped and nothing is buffered here.
    """

    retriable = False

    def __init__(
        self,
        retry_after: float,
        message: str = "",
        *,
        remaining: Sequence[Action] = (),
    ) -> None:
        super().__init__(
            message or f"backpressure: pause for {retry_after:.1f}s", retry_after=retry_after
        )
        self.remaining: list[Action] = list(remaining)
        self.report: DeliveryReport | None = None  # what the interrupted batch achieved
