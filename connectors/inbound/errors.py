"""Rejections of inbound requests; the class decides the HTTP status (see package docstring)."""

from __future__ import annotations


class InboundError(Exception):
    status: int = 400
    #: short machine-readable reason, used as the metric label and in the 4xx body
    reason: str = "rejected"

    def __init__(self, detail: str = "", *, reason: str | None = None) -> None:
        super().__init__(detail or self.reason)
        if reason is not None:
            self.reason = reason
        self.detail = detail or self.reason


class BadSignature(InboundError):
    status = 401
    reason = "bad_signature"


class StaleTimestamp(InboundError):
    status = 401
    reason = "stale_timestamp"


class Unauthorized(InboundError):
    status = 401
    reason = "unauthorized"


class BadPayload(InboundError):
    status = 400
    reason = "bad_payload"


class PayloadTooLarge(InboundError):
    status = 413
    reason = "too_large"


class ServerBusy(InboundError):
    """Too many bodies being read at once: retry later (the platform does)."""

    status = 503
    reason = "busy"


class BodyTimeout(InboundError):
    status = 408
    reason = "body_timeout"


class ClientGone(InboundError):
    """The client closed the connection before its body ended: nobody to answer."""

    status = 400
    reason = "aborted"
