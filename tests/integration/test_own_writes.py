"""Loop prevention by author (issue 15 item 16): what supportsync's own Zendesk API user or
Intercom admin wrote comes back through the webhooks and is dropped, counted.

The writers are not configured here beyond the harness's credentials: the worker learns
them at start from Zendesk's `GET /api/v2/users/me` and Intercom's `GET /me` (the fakes
answer with an API user and an admin that no setting names).
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import iso, minutes_ago
from tests.integration.test_recipe_harness import (
    Platforms,
    eventually,
    platforms,
    send_intercom,
    send_zendesk,
    settle,
    start_worker,
    zendesk_ticket,
)

pytestmark = pytest.mark.broker
LEARNED_ADMIN = "4242"  # not SUPPORTSYNC_INTERCOM_ADMIN_ID: only /me names it
HUMAN_ADMIN = "7"
HUMAN_AGENT = "31337"


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        found.intercom.me["id"] = LEARNED_ADMIN
        yield found


@pytest.fixture(scope="module")
def billing_tag(fakes: Platforms) -> str:
    return fakes.intercom.add_tag("Billing")


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, fakes: Platforms, billing_tag: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    config: dict[str, Any] = {"recipes": {"r11_tag_mapping": {"tags": [
        {"intercom": "Billing", "intercom_tag_id": billing_tag, "zendesk": "billing"}]}}}
    tmp = tmp_path_factory.mktemp("own-writes")
    with start_worker(broker.bootstrap_servers, fakes, config, tmp) as proc:
        yield proc


def escalation(conv_id: str, email: str, author_id: str) -> dict[str, Any]:
    """An `escalate` tag part, written by the admin `author_id`."""
    now = int(time.time())
    return {"type": "conversation", "id": conv_id, "state": "open", "created_at": now - 60,
            "updated_at": now,
            "contacts": {"contacts": [{"id": f"ic-{conv_id}", "email": email}]},
            "tags_added": {"tags": [{"name": "escalate"}]},
            "conversation_parts": {"conversation_parts": [
                {"part_type": "comment", "author": {"type": "user", "id": f"ic-{conv_id}"}},
                {"part_type": "tag", "author": {"type": "admin", "id": author_id}},
            ]}}


def tags_changed(ticket_id: int, conv_id: str, requester: str, actor: str) -> dict[str, Any]:
    """Zendesk's event-subscribed `ticket.tags_changed`: `billing` added by `actor`."""
    return {"type": "zen:event-type:ticket.tags_changed", "id": f"zen-{uuid.uuid4().hex}",
            "time": iso(minutes_ago(1)), "subject": f"zen:ticket:{ticket_id}",
            "detail": {"id": str(ticket_id), "requester_id": requester, "status": "OPEN",
                       "actor_id": actor, "updated_at": iso(minutes_ago(1)),
                       "tags": [f"intercom_conversation_{conv_id}"]},
            "event": {"tags_added": ["billing"], "tags_removed": []}}


def metric(worker: WorkerProcess, line_start: str) -> float:
    with urllib.request.urlopen(worker.admin_url("/metrics"), timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class TestItem16OwnWritesByAuthor:
    """Changes authored by our own API user or admin are dropped and counted, others act."""

    def test_intercom_part_by_our_admin_is_dropped(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        def escalated(conv_id: str) -> list[dict[str, Any]]:
            return [t for t in fakes.zendesk.tickets.values()
                    if f"intercom_conversation_{conv_id}" in (t.get("tags") or [])]

        send_intercom(worker, "conversation_part.tag.created",
                      escalation("c16-ours", "i16.ours@example.com", LEARNED_ADMIN))
        send_intercom(worker, "conversation_part.tag.created",
                      escalation("c16-human", "i16.human@example.com", HUMAN_ADMIN))
        eventually(lambda: escalated("c16-human"), "the human's escalation")
        settle()
        assert escalated("c16-ours") == []
        dropped = ('supportsync_own_writes_dropped_total'
                   '{kind="conversation_tagged",source="intercom"}')
        assert metric(worker, dropped) == 1.0

    def test_zendesk_change_by_our_api_user_is_dropped(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        ours, human = 16001, 16002
        convs = {t: fakes.intercom.seed_conversation()["id"] for t in (ours, human)}
        for ticket_id, conv_id in convs.items():
            send_zendesk(worker, zendesk_ticket(
                ticket_id, "open", minutes_ago(5), f"i16.{ticket_id}@example.com",
                requester_id=f"8{ticket_id}", tags=f"intercom_conversation_{conv_id}"))
        time.sleep(1)  # the tickets and their links are known before the tags change
        api_user = str(fakes.zendesk.api_user["id"])
        send_zendesk(worker, tags_changed(ours, convs[ours], f"8{ours}", api_user))
        send_zendesk(worker, tags_changed(human, convs[human], f"8{human}", HUMAN_AGENT))

        def tagged(ticket_id: int) -> list[Any]:
            return fakes.intercom.requests_to("POST", f"/conversations/{convs[ticket_id]}/tags")

        eventually(lambda: tagged(human), "the agent's tag mirrored to Intercom")
        settle()
        assert tagged(ours) == []
        dropped = ('supportsync_own_writes_dropped_total'
                   '{kind="ticket_tags_changed",source="zendesk"}')
        assert metric(worker, dropped) == 1.0
