"""Builders shared by the delivery tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.actions import Action, SinkName

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_action(
    n: int | str,
    *,
    sink: SinkName = "customerio",
    operation: str = "identify",
    person: str = "p1",
    attributes: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    priority: str = "enrichment",
    one_off: bool = False,
    at: float = 0.0,
    received_offset: float | None = None,
) -> Action:
    """An action whose id derives from transition `t<n>`; `at` seconds after T0."""
    created = T0 + timedelta(seconds=at)
    body = dict(payload or {})
    if attributes is not None:
        body["attributes"] = attributes
    return Action.for_transition(
        f"t{n}",
        sink=sink,
        operation=operation,
        customer_key=f"ck-{person}",
        person=person,
        payload=body,
        priority=priority,
        one_off=one_off,
        created_at=created,
        received_at=None
        if received_offset is None
        else created + timedelta(seconds=received_offset),
        causing_event_id=f"ev{n}",
    )
