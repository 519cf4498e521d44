"""Customer.io bodies shaped like the documented reporting webhooks (written here)."""

from __future__ import annotations

from typing import Any

import orjson

IDENTIFIERS = {"id": "u-42", "email": "Pat.Doe@Example.com", "cio_id": "d9c106000001"}


def reporting(metric: str, object_type: str = "email", **data: Any) -> bytes:
    body: dict[str, Any] = {
        "event_id": f"01HQCIO{metric.upper()}",
        "object_type": object_type,
        "metric": metric,
        "timestamp": 1761991200,
        "data": {
            "identifiers": dict(IDENTIFIERS),
            "customer_id": "u-42",
            "email_address": "pat.doe@example.com",
            "campaign_id": 38,
            "action_id": 112,
            "delivery_id": "RAECAAFwnUSneIa0ZXkmSwOkGpXGDnxM5Q==",
            **data,
        },
    }
    return orjson.dumps(body)


def action(action_name: str, **fields: Any) -> bytes:
    body: dict[str, Any] = {
        "supportsync": "customerio-action/v1",
        "event_id": "38-u-42-1761991200",
        "action": action_name,
        "timestamp": "1761991200",
        "identifiers": dict(IDENTIFIERS),
        **fields,
    }
    return orjson.dumps(body)
