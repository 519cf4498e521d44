"""Data-out and destination recipes, end to end: R16, R18, R19.

One worker (every sink live: vendor fakes, the signed webhook collector, real PostgreSQL)
serves the module; every test uses its own customers.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import iso, minutes_ago
from tests.integration.test_recipe_harness import (
    Platforms,
    cio_metric,
    dead_letters,
    eventually,
    platforms,
    send_customerio,
    send_intercom,
    send_pipelines,
    send_zendesk,
    start_worker,
    warehouse_rows,
    zendesk_ticket,
)

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        found.zendesk.user_fields = [{"id": 1, "key": "plan", "type": "text", "title": "Plan"}]
        yield found


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, fakes: Platforms, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    config: dict[str, Any] = {"recipes": {"r19_zendesk_destination": {
        "create_users_as_verified": True}}}
    tmp = tmp_path_factory.mktemp("recipes-data")
    with start_worker(broker.bootstrap_servers, fakes, config, tmp) as proc:
        yield proc


def hooks(fakes: Platforms, kind: str, cause_prefix: str) -> list[dict[str, Any]]:
    return [h["data"] for h in fakes.collector.hooks if h["type"] == kind
            and str(h["data"].get("causing_event_id", h["data"].get("transition_id")))
            .startswith(cause_prefix)]


class TestR16DataOut:
    """State changes reach the webhook and the warehouse, identifiers only with consent."""

    def test_r16_data_out_webhook_and_warehouse_with_consented_identifiers(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        consenting, withdrawn = "r16.ola@example.com", "r16.pam@example.com"
        send_customerio(worker, cio_metric("unsubscribed", withdrawn))
        time.sleep(1)
        send_zendesk(worker, zendesk_ticket(8161, "open", minutes_ago(5), consenting))
        send_zendesk(worker, zendesk_ticket(8162, "open", minutes_ago(5), withdrawn))
        mine = eventually(lambda: hooks(fakes, "support_state_changed", "8161:"), "webhook row")
        theirs = eventually(lambda: hooks(fakes, "support_state_changed", "8162:"), "webhook")
        assert mine[0]["identities"] == {"email": consenting}
        assert (mine[0]["old_state"], mine[0]["new_state"]) == ("clear", "open")
        assert theirs[0]["identities"] == {}
        assert withdrawn not in orjson.dumps(fakes.collector.hooks).decode()
        def by_ticket() -> dict[str, dict[str, Any]]:
            rows = warehouse_rows(fakes.schema)
            return {r["causing_event_id"][:5]: r for r in rows
                    if r["causing_event_id"][:5] in ("8161:", "8162:")}

        rows = eventually(lambda: len(found := by_ticket()) == 2 and found, "warehouse rows")
        assert orjson.loads(rows["8161:"]["identities"]) == {"email": consenting}
        assert orjson.loads(rows["8162:"]["identities"]) == {}
        assert rows["8161:"]["transition_id"] == mine[0]["transition_id"]
        assert rows["8161:"]["new_state"] == "open" and rows["8161:"]["holdout"] is False


class TestR18Reporting:
    """Ticket volume, resolution time and CSAT from both helpdesks: rows and metrics."""

    def test_r18_reporting_rows_and_metrics(self, worker: WorkerProcess, fakes: Platforms) -> None:
        email = "r18.quin@example.com"
        send_zendesk(worker, zendesk_ticket(8181, "open", minutes_ago(40), email))
        send_zendesk(worker, zendesk_ticket(8181, "solved", minutes_ago(10), email))
        now = int(time.time())
        rating = {"type": "conversation", "id": "conv-r18", "updated_at": now,
                  "contacts": {"contacts": [{"id": "ic-r18", "email": email}]},
                  "conversation_rating": {"rating": 2, "created_at": now,
                                          "contact": {"id": "ic-r18", "email": email}}}
        send_intercom(worker, "conversation.rating.added", rating)

        def reports() -> dict[str, dict[str, Any]]:
            return {h["data"]["event"]: h["data"] for h in fakes.collector.hooks
                    if h["type"] == "support_report"
                    and h["data"].get("ticket_id") in ("8181", "conv-r18")}

        found = eventually(lambda: len(r := reports()) == 3 and r, "three report rows")
        assert abs(found["ticket_resolved"]["resolution_seconds"] - 30 * 60) <= 1
        assert found["csat"]["source"] == "intercom" and found["csat"]["low"] is True
        assert all("email" not in row for row in found.values())
        with urllib.request.urlopen(worker.admin_url("/metrics"), timeout=5) as resp:
            metrics = resp.read().decode()
        assert 'supportsync_report_tickets_total{event="resolved",source="zendesk"}' in metrics
        assert 'supportsync_report_csat_total{low="true",source="intercom"}' in metrics


class TestR19ZendeskDestination:
    """Segment-spec identify, group and ticket tracks become Zendesk users, orgs, tickets."""

    def test_r19_zendesk_destination_identify_group_and_ticket_tracks(
        self, broker: EmbeddedBroker, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r19.ada@example.com"
        analytical = 71900
        fakes.zendesk.organizations[analytical] = {"id": analytical, "name": "Analytical"}
        traits = {"email": email, "first_name": "Ada", "last_name": "Lovelace", "plan": "pro",
                  "shoe_size": 42, "timezone": "Europe/London",
                  "company": {"id": str(analytical), "name": "Analytical"}}
        send_pipelines(worker, "identify", {"type": "identify", "userId": "u-r19",
                                            "traits": traits})

        def user() -> dict[str, Any] | None:
            return next((u for u in fakes.zendesk.users.values() if u.get("email") == email),
                        None)

        found = eventually(user, "Zendesk user")
        assert found["name"] == "Ada Lovelace" and found["external_id"] == "u-r19"
        assert found["time_zone"] == "Europe/London" and found["verified"] is True
        assert found["user_fields"] == {"plan": "pro"}  # shoe_size: no such field, dropped
        eventually(lambda: any(m["organization_id"] == analytical
                               and m["user_id"] == found["id"]
                               for m in fakes.zendesk.memberships.values()), "membership")
        send_pipelines(worker, "group", {
            "type": "group", "userId": "u-r19", "groupId": "org-r19b",
            "traits": {"name": "Babbage Ltd", "domainNames": ["babbage.example"],
                       "tags": ["partner"], "url": "https://babbage.example"}})
        babbage = eventually(lambda: next((o for o in fakes.zendesk.organizations.values()
                                           if o.get("external_id") == "org-r19b"), None), "group")
        assert babbage["name"] == "Babbage Ltd" and babbage["domain_names"] == ["babbage.example"]
        eventually(lambda: any(m["organization_id"] == babbage["id"]
                               for m in fakes.zendesk.memberships.values()), "group member")
        seeded = fakes.zendesk.seed_ticket(subject="Old", status="open")["id"]
        send_pipelines(worker, "track", {"type": "track", "userId": "u-r19",
                                         "event": "Ticket Created",
                                         "properties": {"subject": "Broken",
                                                        "description": "It broke",
                                                        "priority": "high"}})
        send_pipelines(worker, "track", {"type": "track", "userId": "u-r19",
                                         "event": "Ticket Updated",
                                         "properties": {"ticket_id": seeded, "status": "pending",
                                                        "comment": "More details"}})
        created = eventually(lambda: next((t for t in fakes.zendesk.tickets.values()
                                           if t.get("subject") == "Broken"), None), "ticket")
        assert created["priority"] == "high" and created["requester_id"] == found["id"]
        eventually(lambda: fakes.zendesk.tickets[seeded]["status"] == "pending", "update")
        send_pipelines(worker, "identify", {"type": "identify", "anonymousId": "a-r19-none",
                                            "traits": {"name": "No Email",
                                                       "phone": "+15550100190"},
                                            "timestamp": iso(minutes_ago(1))})
        letters = eventually(
            lambda: [d for d in dead_letters(broker.bootstrap_servers, worker)
                     if d.get("reason") == "missing_email"], "dead letter",
        )
        assert letters[0]["stage"] == "route" and "R19" in letters[0]["detail"]
