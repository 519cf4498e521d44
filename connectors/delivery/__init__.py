"""Shared delivery machinery for every connector sink (SPEC S6). No Faust imports here."""

from connectors.delivery.clock import SYSTEM_CLOCK, Clock, SystemClock, VirtualClock
from connectors.delivery.coalesce import AttributeCoalescer, LastWrittenCache, Planned
from connectors.delivery.dlq import (
    DeadLetter,
    DeadLetterWriter,
    FileDeadLetterWriter,
    InMemoryDeadLetterWriter,
)
from connectors.delivery.errors import (
    ClientError,
    Conflict,
    DeadlineExceeded,
    DeliveryError,
    RateLimited,
    ServerError,
    SinkBackpressureError,
    TransportError,
)
from connectors.delivery.http import HttpClient, Response
from connectors.delivery.idempotency import (
    DeliveredStore,
    FileDeliveredStore,
    InMemoryDeliveredStore,
)
from connectors.delivery.outbox import Outbox
from connectors.delivery.ratelimit import TokenBucket, parse_retry_after
from connectors.delivery.retry import RetryPolicy, call_with_retry
from connectors.delivery.sink import DeliveryObserver, DeliveryReport, Outcome, Sink
from contracts.actions import Action, Priority, SinkName, derive_action_id

__all__ = [
    "SYSTEM_CLOCK",
    "Action",
    "AttributeCoalescer",
    "ClientError",
    "Clock",
    "Conflict",
    "DeadLetter",
    "DeadLetterWriter",
    "DeadlineExceeded",
    "DeliveredStore",
    "DeliveryError",
    "DeliveryObserver",
    "DeliveryReport",
    "FileDeadLetterWriter",
    "FileDeliveredStore",
    "HttpClient",
    "InMemoryDeadLetterWriter",
    "InMemoryDeliveredStore",
    "LastWrittenCache",
    "Outbox",
    "Outcome",
    "Planned",
    "Priority",
    "RateLimited",
    "Response",
    "RetryPolicy",
    "ServerError",
    "Sink",
    "SinkBackpressureError",
    "SinkName",
    "SystemClock",
    "TokenBucket",
    "TransportError",
    "VirtualClock",
    "call_with_retry",
    "derive_action_id",
    "parse_retry_after",
]
