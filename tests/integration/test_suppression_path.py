"""R1 + R2, Zendesk → Customer.io, through the real broker and a real worker process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    minutes_ago,
    post,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def cio() -> Iterator[FakeCustomerIO]:
    with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as fake:
        yield fake
    fake.assert_no_violations()


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, cio: FakeCustomerIO) -> Iterator[WorkerProcess]:
    with WorkerProcess(broker.bootstrap_servers, env=worker_env(cio.track_url)) as proc:
        proc.wait_healthy(timeout=60)
        yield proc


def _requests_for(cio: FakeCustomerIO, email: str) -> list[tuple[str, str, Any]]:
    seen = []
    for prefix in {f"/api/v1/customers/{quote(email, safe='')}", f"/api/v1/customers/{email}"}:
        for r in cio.requests:
            if r.path == prefix:
                seen.append((r.timestamp, r.method, "customer", r.json))
            elif r.path == prefix + "/events":
                seen.append((r.timestamp, r.method, "events", r.json))
    return [entry[1:] for entry in sorted(seen, key=lambda e: e[0])]


class TestSuppressionPath:
    """Two tickets, a duplicate, a stale update, then resolution: exact Customer.io calls."""

    def test_two_tickets_lifecycle(self, worker: WorkerProcess, cio: FakeCustomerIO) -> None:
        email = "pat.two-tickets@example.com"
        url = worker.url("/webhooks/zendesk")
        t0, t1, t2, t3, t4 = (minutes_ago(m) for m in (50, 40, 30, 20, 10))

        def send(body: bytes) -> None:
            status, answer = post(url, body, zendesk_headers(body))
            assert status == 200, answer

        def expect(count: int) -> list[tuple[str, str, Any]]:
            try:
                return wait_for(lambda: len(r := _requests_for(cio, email)) >= count and r)
            except AssertionError:
                seen = "\n".join(map(str, _requests_for(cio, email)))
                raise AssertionError(f"expected {count} requests, got:\n{seen}") from None

        send(trigger_body("101", "Open", t0, email))
        reqs = expect(2)
        assert reqs[0][:2] == ("PUT", "customer")
        assert reqs[0][2]["has_open_ticket"] is True
        assert reqs[0][2]["open_ticket_count"] == 1
        assert reqs[0][2]["support_state"] == "open"
        assert reqs[1][:2] == ("POST", "events")
        assert reqs[1][2]["name"] == "zendesk_ticket_created"
        assert reqs[1][2]["data"]["ticket_id"] == "101"

        send(trigger_body("102", "New", t1, email, priority="urgent"))
        reqs = expect(4)
        put = next(r for r in reqs[2:4] if r[0] == "PUT")[2]
        event = next(r for r in reqs[2:4] if r[0] == "POST")[2]
        # Only what changed is written (S7): has_open_ticket stays true, so it is not resent.
        assert "has_open_ticket" not in put
        assert put["open_ticket_count"] == 2
        assert put["support_state"] == "escalated"
        assert event["name"] == "zendesk_ticket_created" and event["data"]["ticket_id"] == "102"

        pending = trigger_body("101", "Pending", t2, email)
        send(pending)
        send(pending)  # the same delivery twice: changes nothing the second time
        # Out of order: an update of 102 older than what the state holds for it.
        send(trigger_body("102", "Solved", t0, email, event_suffix=":late"))
        send(trigger_body("101", "Solved", t3, email))
        # 101 pending changed no exported attribute (last_ticket_status follows the newest
        # ticket, 102), so the next calls are 101's resolution: still suppressed.
        reqs = expect(6)
        put = next(r for r in reqs[4:6] if r[0] == "PUT")[2]
        event = next(r for r in reqs[4:6] if r[0] == "POST")[2]
        assert put["open_ticket_count"] == 1
        assert cio.person(email).attributes["has_open_ticket"] is True
        assert cio.person(email).attributes["support_state"] == "escalated"
        assert event["name"] == "support_ticket_resolved"
        assert event["data"]["ticket_id"] == "101"
        assert event["data"]["resolution_seconds"] == 30 * 60

        send(trigger_body("102", "Solved", t4, email))
        reqs = expect(8)
        put = next(r for r in reqs[6:8] if r[0] == "PUT")[2]
        event = next(r for r in reqs[6:8] if r[0] == "POST")[2]
        assert reqs[6][0] == "PUT", "lifting suppression goes out before the event"
        assert put["has_open_ticket"] is False
        assert put["open_ticket_count"] == 0
        assert put["support_state"] == "cooldown"
        assert event["name"] == "support_ticket_resolved"
        assert event["data"]["ticket_id"] == "102"
        # The duplicate and the stale update sent nothing; suppression lifted only at the end.
        assert [r[2].get("has_open_ticket") for r in reqs if r[1] == "customer"] == [
            True, None, None, False,
        ]
        assert len(_requests_for(cio, email)) == 8
        assert cio.person(email).attributes["has_open_ticket"] is False
