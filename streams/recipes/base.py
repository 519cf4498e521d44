"""What every recipe uses: an `Emit` collector that builds deterministic actions.

One `Emit` is made per routed transition or event. `add()` derives the action id from the
transition id (or `event:<event id>`, or a recipe-chosen `key` when one effect must happen
once per ticket/conversation/contact whatever event carries it), stamps the recipe on the
payload (`payload["recipe"]`, read by the demo summary and the webhook schema) and applies
the replay horizon of SPEC S7: a one-off action caused by a replayed or backfilled event
older than the horizon is recorded (metric, debug log) but not produced.

The id of an attribute write (`ATTRIBUTE_OPERATIONS`, not one-off) also covers a digest of
its payload: the same inputs and mapping give the same id (a crash replay or an unchanged
replay is skipped as delivered), while a replay after a mapping change produces new ids, so
its writes reach the sink, which sends only what differs from what it last wrote (S7).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from contracts.actions import ATTRIBUTE_OPERATIONS, Action, Priority, SinkName, derive_action_id
from contracts.deadletters import StageDeadLetter
from contracts.events import Identities
from contracts.jsonvalues import json_value
from contracts.transitions import Transition
from streams.tally import RecipeTally

log = logging.getLogger(__name__)

@dataclass
class Emit:
    """Collects the actions and dead letters of routing one transition or event."""

    source_id: str  # transition id, or "event:<event id>"
    customer_key: str
    causing_event_id: str
    occurred_at: datetime
    received_at: datetime | None
    origin: str = "live"
    horizon: timedelta = timedelta(hours=72)
    now: datetime | None = None  # wall clock for the horizon; read only for history
    actions: list[Action] = field(default_factory=list)
    dead_letters: list[StageDeadLetter] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # action ids held back by the horizon
    created: datetime | None = None
    tally: RecipeTally = field(default_factory=RecipeTally)
    #: the destinations actions are built for (None: every one); actions for others are not
    #: made (they would pile up on a topic no sink reads, and cost time)
    sinks: frozenset[str] | None = None

    def wants(self, sink: str) -> bool:
        return self.sinks is None or sink in self.sinks

    def historical(self) -> bool:
        if self.origin == "live":
            return False
        if self.now is None:
            self.now = datetime.now(UTC)
        return self.occurred_at < self.now - self.horizon

    def created_before_horizon(self, recipe: str, created: datetime | str | None) -> bool:
        """Whether a ticket was created before the one-off horizon (counted as a skipped
        one-off): going live or backfilling meets old tickets updated now, and announcing,
        re-prioritising or acknowledging them as new would be wrong. Unknown: not old."""
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created is None:
            return False
        if self.now is None:
            self.now = datetime.now(UTC)
        if created >= self.now - self.horizon:
            return False
        self.tally.one_offs_skipped[recipe] += 1
        return True

    def add(
        self,
        recipe: str,
        sink: SinkName,
        operation: str,
        person: str,
        payload: dict[str, Any],
        *,
        priority: Priority = "enrichment",
        one_off: bool = False,
        discriminator: str = "",
        key: str | None = None,
    ) -> None:
        if self.sinks is not None and sink not in self.sinks:
            return
        base = key if key is not None else self.source_id
        if not one_off and operation in ATTRIBUTE_OPERATIONS:
            discriminator = f"{discriminator}:{content_digest(payload)}"
        action_id = derive_action_id(base, sink, operation, f"{recipe}:{discriminator}")
        if one_off and self.historical():
            self.tally.one_offs_skipped[recipe] += 1
            self.skipped.append(action_id)
            log.debug("%s: one-off %s older than the replay horizon: not sent", recipe, action_id)
            return
        self.tally.actions[recipe, sink] += 1
        if self.created is None:
            self.created = datetime.now(UTC)  # one clock read per transition/event
        self.actions.append(
            Action(
                action_id=action_id,
                sink=sink,
                operation=operation,
                customer_key=self.customer_key,
                person=person,
                payload={**payload, "recipe": recipe},
                priority=priority,
                one_off=one_off,
                created_at=self.created,
                received_at=self.received_at,
                causing_event_id=self.causing_event_id,
            )
        )

    def reject(
        self, recipe: str, reason: str, detail: str, source: str, record: Any, *,
        sink: str | None = None,
    ) -> None:
        """A dead letter instead of a guess (no identifier, missing required field); none
        when the action would have gone to a `sink` that runs nowhere."""
        if sink is not None and self.sinks is not None and sink not in self.sinks:
            return
        self.dead_letters.append(
            StageDeadLetter(
                stage="route",
                reason=reason,
                source=source,
                detail=f"{recipe}: {detail}",
                record=record if isinstance(record, dict) else {"record": record},
            )
        )


def content_digest(payload: dict[str, Any]) -> str:
    """A short digest of what an attribute write says (keys sorted: order never matters)."""
    raw = orjson.dumps(payload, default=json_value,
                       option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def customerio_person(identities: Identities, customer_key: str, kind: str) -> str | None:
    if kind == "customer_key":
        return customer_key
    value = getattr(identities, kind, None)
    return str(value) if value else None


def linked_kinds(t: Transition) -> tuple[str, ...]:
    """The identifier kinds an `identities_linked` transition added (none for other kinds)."""
    if t.kind != "identities_linked" or not t.details:
        return ()
    return tuple(t.details.get("added") or ())


def helpdesk_person(identities: Identities) -> str | None:
    """How Zendesk and Intercom sinks find a person: email, else external id."""
    return identities.email or identities.external_id


def unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())
