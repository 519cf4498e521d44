"""Attribute writes handled out of order never undo newer values (streams/writeorder.py)."""

from __future__ import annotations

from typing import Any

import orjson

from contracts.actions import Action
from streams import writeorder
from tests.unit.connectors.delivery.helpers import T0, make_action


class FakeWriter:
    """A table writer: pending values are visible to reads at once."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.values[key] = value


def _write(n: int, at: float, person: str = "ann", **attributes: Any) -> Action:
    return make_action(n, person=person, attributes=attributes, at=at)


class TestDropStale:
    """Attributes already written by a newer write are removed; the rest pass unchanged."""

    def test_older_write_of_the_same_attribute_is_dropped(self) -> None:
        order = writeorder.WriteOrder("customerio", FakeWriter())
        closed, solved = _write(2, 10.0, status="closed"), _write(1, 5.0, status="solved")
        order.handed_over([closed])
        kept, dropped = order.drop_stale([solved])
        assert (kept, dropped) == ([], 1)

    def test_only_the_stale_attributes_of_a_write_are_removed(self) -> None:
        order = writeorder.WriteOrder("customerio", FakeWriter())
        order.handed_over([_write(2, 10.0, status="closed")])
        kept, dropped = order.drop_stale([_write(1, 5.0, status="solved", csat=4)])
        assert dropped == 0
        assert [a.attributes for a in kept] == [{"csat": 4}]

    def test_a_replay_of_the_newest_write_passes(self) -> None:
        order = writeorder.WriteOrder("customerio", FakeWriter())
        closed = _write(2, 10.0, status="closed")
        order.handed_over([closed])
        assert order.drop_stale([closed]) == ([closed], 0)

    def test_newer_writes_and_one_offs_pass(self) -> None:
        order = writeorder.WriteOrder("customerio", FakeWriter())
        order.handed_over([_write(1, 5.0, status="solved")])
        newer = _write(2, 10.0, status="closed")
        event = make_action(3, operation="event", person="ann", one_off=True, at=1.0)
        assert order.drop_stale([event, newer]) == ([event, newer], 0)

    def test_other_customers_and_sinks_are_separate(self) -> None:
        writer = FakeWriter()
        cio, zendesk = writeorder.WriteOrder("customerio", writer), writeorder.WriteOrder(
            "zendesk", writer
        )
        cio.handed_over([_write(2, 10.0, status="closed")])
        bob = _write(1, 5.0, person="bob", status="solved")
        ann = _write(1, 5.0, status="solved")
        assert cio.drop_stale([bob]) == ([bob], 0)
        assert zendesk.drop_stale([ann]) == ([ann], 0)


class TestAudienceMembership:
    """An older add cannot undo a newer remove of the same audience (other audiences pass)."""

    def _member(self, n: int, at: float, operation: str, audience: str) -> Action:
        return make_action(n, sink="audiences", operation=operation, person="ann", at=at,
                           payload={"audience": audience, "email": "ann@example.com"})

    def test_older_add_after_newer_remove_is_dropped(self) -> None:
        order = writeorder.WriteOrder("audiences", FakeWriter())
        order.handed_over([self._member(2, 10.0, "audience_remove", "suppress")])
        older_add = self._member(1, 5.0, "audience_add", "suppress")
        other = self._member(3, 5.0, "audience_add", "recovery")
        assert order.drop_stale([older_add, other]) == ([other], 1)


class TestHandedOver:
    """The newest time per attribute is kept, in the customer's `as_of` entry."""

    def test_an_older_write_does_not_move_the_time_back(self) -> None:
        writer = FakeWriter()
        order = writeorder.WriteOrder("customerio", writer)
        order.handed_over([_write(2, 10.0, status="closed"), _write(1, 5.0, status="solved",
                                                                    csat=4)])
        stored = orjson.loads(writer.values[writeorder.as_of_key("ck-ann", "customerio")])
        assert stored == {"status": T0.timestamp() + 10.0, "csat": T0.timestamp() + 5.0}

    def test_one_offs_leave_no_entry(self) -> None:
        writer = FakeWriter()
        order = writeorder.WriteOrder("customerio", writer)
        order.handed_over([make_action(1, operation="event", person="ann", one_off=True)])
        assert writer.values == {}


class TestWithinOneList:
    """A list handled at once (several records in one call) is checked in its own order."""

    def test_older_write_after_a_newer_one_in_the_same_list_is_dropped(self) -> None:
        order = writeorder.WriteOrder("customerio", FakeWriter())
        newer = _write(2, 10.0, status="closed")
        older = _write(1, 5.0, status="solved", csat=4)
        kept, dropped = order.drop_stale([newer, older])
        assert dropped == 0
        assert [a.attributes for a in kept] == [{"status": "closed"}, {"csat": 4}]

    def test_other_customers_do_not_interfere(self) -> None:
        order = writeorder.WriteOrder("customerio", FakeWriter())
        ann, bob = _write(2, 10.0, status="closed"), _write(1, 5.0, person="bob", status="open")
        kept, dropped = order.drop_stale([ann, bob])
        assert (kept, dropped) == ([ann, bob], 0)
