"""The `last-sent` table's documents and per-sink writers (streams/runtime/lastsent.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.delivery.sink import Outcome
from contracts.actions import Action
from streams.runtime import lastsent
from tests.unit.connectors.delivery.helpers import T0, make_action


class FakeTable:
    """What BatchedTable reads of a Faust table before a flush: its store."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}


def _no_producer() -> Any:
    raise AssertionError("these tests never flush")


def _action(n: int, operation: str, **kw: Any) -> Action:
    return make_action(n, operation=operation, person="ann", **kw)


class TestEntry:
    """One outcome becomes operation, action id, recipe, ISO time and outcome."""

    def test_fields(self) -> None:
        action = _action(1, "event", one_off=True, payload={"recipe": "r1_suppression"})
        doc = lastsent.entry(Outcome(action, "delivered", T0.timestamp()))
        assert doc == {
            "operation": "event", "action_id": action.action_id, "recipe": "r1_suppression",
            "at": T0.isoformat(), "outcome": "delivered",
        }
        assert datetime.fromisoformat(doc["at"]).tzinfo == UTC

    def test_without_recipe(self) -> None:
        doc = lastsent.entry(Outcome(_action(1, "identify"), "dead_lettered", 0.0))
        assert "recipe" not in doc and doc["outcome"] == "dead_lettered"


class TestTables:
    """Each sink's writer keeps the latest outcome per customer; reads find every sink's."""

    def test_last_outcome_wins_per_customer_and_sink(self) -> None:
        tables = lastsent.LastSentTables(FakeTable(), producer=_no_producer)
        identify, event = _action(1, "identify"), _action(2, "event", one_off=True)
        tables.record("customerio", [
            Outcome(identify, "delivered", 1.0), Outcome(event, "dead_lettered", 2.0),
        ])
        tables.record("zendesk", [Outcome(identify, "delivered", 3.0)])
        assert tables.writer("customerio") is tables.writer("customerio")

        def get(key: str) -> bytes | None:
            sink = key.rsplit("|", 1)[1]
            return tables.writer(sink).get(key)

        found = lastsent.read(get, identify.customer_key, ("customerio", "zendesk", "intercom"))
        assert set(found) == {"customerio", "zendesk"}
        assert found["customerio"]["operation"] == "event"
        assert found["customerio"]["outcome"] == "dead_lettered"
        assert found["zendesk"]["at"] == datetime.fromtimestamp(3.0, UTC).isoformat()

    def test_read_decodes_stored_documents(self) -> None:
        stored = {"c:1|webhook": orjson.dumps({"operation": "post", "outcome": "delivered"})}
        assert lastsent.read(stored.get, "c:1", ("webhook", "audiences")) == {
            "webhook": {"operation": "post", "outcome": "delivered"}
        }
