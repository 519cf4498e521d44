"""What the Zendesk normalizer builds is already valid: validating it again changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from connectors.zendesk.normalize import normalize
from contracts.events import SupportEvent

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
DETAIL = {
    "id": 42, "requester_id": 77, "status": " Pending ", "priority": "HIGH", "tags": ["a", "b"],
    "via": {"channel": "email"}, "assignee_id": 5, "created_at": "2024-05-01T00:00:00Z",
    "updated_at": "2024-05-01T01:00:00Z",
}


def _body(kind: str, detail: dict[str, object], event: object = None) -> bytes:
    doc = {"type": f"zen:event-type:{kind}", "id": "z1", "time": "2024-05-01T01:00:00Z",
           "detail": detail}
    if event is not None:
        doc["event"] = event
    return orjson.dumps(doc)


BODIES = [
    _body("ticket.created", DETAIL),
    _body("ticket.status_changed", {**DETAIL, "id": "43"}, {"current": "SOLVED"}),
    _body("ticket.merged", DETAIL, {"target_ticket_id": 99}),
    _body("user.created", {"id": 9, "email": " MiXeD@Case.COM ", "external_id": 12, "name": "N"}),
    orjson.dumps(
        {"supportsync": "zendesk-trigger/v1", "event_id": "5:1:Solved",
         "ticket": {"id": 5, "status": "Solved", "tags": "a b", "updated_at": 1714564800},
         "requester": {"id": 12, "email": "X@Y.z", "phone": " 555 "},
         "satisfaction": {"score": "Bad"}}
    ),
]


@pytest.mark.parametrize("body", BODIES)
def test_events_equal_validated_ones(body: bytes) -> None:
    events = normalize(body, NOW)
    assert events
    for event in events:
        assert SupportEvent.from_dict(event.to_dict()) == event
        assert SupportEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize("bad_id", [True, None, 4.5, [1], {"a": 1}])
def test_bad_ticket_ids_are_still_rejected(bad_id: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        normalize(_body("ticket.created", {**DETAIL, "id": bad_id}), NOW)
