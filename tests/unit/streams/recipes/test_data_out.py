"""R16 data out (consent-gated identifiers), R18 reporting rows."""

from __future__ import annotations

from tests.unit.streams.recipes.helpers import Desk, by_recipe, event, ticket


class TestR16:
    """Every state change to webhook and warehouse; identifiers only with consent."""

    def test_rows_with_identifiers(self) -> None:
        actions, _ = Desk().send(ticket("1", "open", identities={"zendesk_user_id": "9"}))
        rows = by_recipe(actions, "R16")
        assert sorted(a.sink for a in rows) == ["warehouse", "webhook"]
        assert rows[0].payload["identities"] == {"email": "pat@example.com",
                                                 "zendesk_user_id": "9"}
        assert rows[0].payload["transition_id"] and rows[0].payload["new_state"] == "open"

    def test_no_identifiers_without_consent(self) -> None:
        desk = Desk()
        desk.send(event("unsubscribed", "intercom", "u1", minutes=5,
                        attributes={"channel": "email"}))
        actions, _ = desk.send(ticket("1", "open"))
        assert all(a.payload["identities"] == {} for a in by_recipe(actions, "R16"))


class TestR18:
    """Opened/resolved/CSAT rows carry no identifiers."""

    def test_report_rows(self) -> None:
        desk = Desk()
        opened, _ = desk.send(ticket("1", "open", minutes=60))
        solved, _ = desk.send(ticket("1", "solved"))
        actions = by_recipe(opened + solved, "R18")
        assert {a.sink for a in actions} == {"webhook", "warehouse"}  # same rows in both
        rows = [a.payload for a in actions if a.sink == "webhook"]
        assert [r["event"] for r in rows] == ["ticket_opened", "ticket_resolved"]
        assert rows[1]["resolution_seconds"] == 3600
        assert all("pat@example.com" not in str(r) for r in rows)
