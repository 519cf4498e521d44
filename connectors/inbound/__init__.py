"""What every inbound source shares: the rejection tree and the webhook contract.

    InboundError            (status, reason: a 4xx the caller answers with)
    ├── BadSignature        401  missing or wrong signature
    ├── StaleTimestamp      401  signed too long ago (replay protection)
    ├── Unauthorized        401  missing or wrong credentials (write key)
    ├── BadPayload          400  not JSON, not an object, or missing what picks a key
    ├── PayloadTooLarge     413  body over the configured cap
    ├── BodyTimeout         408  body not received in time
    ├── ServerBusy          503  too many bodies being read at once
    └── ClientGone          (no answer: the client closed the connection mid-body)
"""

from connectors.inbound.errors import (
    BadPayload,
    BadSignature,
    BodyTimeout,
    ClientGone,
    InboundError,
    PayloadTooLarge,
    ServerBusy,
    StaleTimestamp,
    Unauthorized,
)
from connectors.inbound.source import Accepted, WebhookSource

__all__ = [
    "Accepted",
    "BadPayload",
    "BadSignature",
    "BodyTimeout",
    "ClientGone",
    "InboundError",
    "PayloadTooLarge",
    "ServerBusy",
    "StaleTimestamp",
    "Unauthorized",
    "WebhookSource",
]
