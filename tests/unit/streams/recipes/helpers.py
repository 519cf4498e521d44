"""Driving the pure stages with recipes: events in, actions and dead letters out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.actions import Action
from contracts.deadletters import StageDeadLetter
from contracts.events import Identities, SupportEvent
from streams.recipes import RecipeRouter, RecipesConfig
from streams.stages import apply_batch
from streams.state.config import StateConfig
from streams.state.model import SupportState

NOW = datetime.now(UTC).replace(microsecond=0)


class Desk:
    """One customer's state held in memory, fed through `apply_batch` with a RecipeRouter."""

    def __init__(
        self, recipes: RecipesConfig | None = None, *, state: StateConfig | None = None,
        key: str = "c:test", horizon: timedelta = timedelta(hours=72),
        sinks: tuple[str, ...] | None = None,
    ) -> None:
        self.router = RecipeRouter(recipes, identifier="email", horizon=horizon, sinks=sinks)
        self.config = state or StateConfig()
        self.key = key
        self.states: dict[str, SupportState] = {}

    def send(self, *events: SupportEvent) -> tuple[list[Action], list[StageDeadLetter]]:
        result = apply_batch(
            [(self.key, e, NOW.timestamp()) for e in events],
            get_state=self.states.get, put_state=self.states.__setitem__,
            config=self.config, router=self.router,
        )
        return result.actions, result.dead_letters

    @property
    def state(self) -> SupportState:
        return self.states[self.key]


def event(kind: str, source: str, event_id: str, *, minutes: float = 0, email: str | None =
          "pat@example.com", **fields: Any) -> SupportEvent:
    ids = fields.pop("identities", {})
    return SupportEvent.from_dict({
        "event_id": event_id, "source": source, "kind": kind,
        "occurred_at": NOW - timedelta(minutes=minutes), "received_at": NOW,
        "identities": Identities(email=email, **ids), **fields,
    })


def ticket(ticket_id: str, status: str, event_id: str | None = None, *, minutes: float = 0,
           **fields: Any) -> SupportEvent:
    info = {"id": ticket_id, "status": status, **fields.pop("info", {})}
    return event("ticket_status_changed", "zendesk", event_id or f"{ticket_id}:{status}",
                 minutes=minutes, ticket=info, **fields)


def by_recipe(actions: list[Action], recipe: str) -> list[Action]:
    return [a for a in actions if a.payload.get("recipe") == recipe]
