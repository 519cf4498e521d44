"""Backfill against the vendor fakes with an in-memory raw topic: pages, resume, rate limits."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from app.backfill.runner import Backfill
from app.backfill.sources import IntercomSource, ZendeskSource
from app.backfill.state import StateFile
from app.backfill.writer import ITEM, MARKER
from app.replay.progress import Progress
from connectors.delivery.http import HttpClient
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.intercom.client import intercom_http
from connectors.intercom.normalize import normalize as intercom_normalize
from connectors.intercom.search import ConversationSearch
from connectors.testing.fakes import FakeIntercom, FakeZendesk
from connectors.testing.fakes.base import FakeFactory
from connectors.testing.fakes.faults import RateLimit
from connectors.zendesk.export import ZendeskExport
from connectors.zendesk.normalize import normalize as zendesk_normalize
from contracts.records import RawEnvelope

pytest_plugins = ["connectors.testing.pytest_plugin"]

T0 = 1_760_000_000


class MemoryTopic:
    """A raw topic in memory with the RawWriter interface; can crash after a write."""

    def __init__(self, crash_on_write: int | None = None) -> None:
        self.records: list[RawEnvelope] = []
        self.writes = 0
        self.crash_on_write = crash_on_write

    async def end_offsets(self) -> dict[str, int]:
        return {"raw:0": len(self.records)}

    async def write(self, envelopes: list[RawEnvelope]) -> None:
        self.records.extend(envelopes)
        self.writes += 1
        if self.writes == self.crash_on_write:
            raise RuntimeError("crash after the broker acknowledged, before the cursor save")

    async def written_ids(self, marker: str, from_offsets: dict[str, int]) -> set[str]:
        tail = self.records[from_offsets.get("raw:0", 0) :]
        return {e.headers[ITEM] for e in tail if e.headers.get(MARKER) == marker}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def zendesk_source(
    fake: FakeZendesk, session: aiohttp.ClientSession, **kw: object
) -> ZendeskSource:
    auth = ("agent@example.com/token", "test-token")
    http = HttpClient(session, base_url=fake.base_url, auth=auth)
    policy = RetryPolicy(base=0.01, max_backoff=0.05, deadline=10.0, max_retry_after=5.0)
    return ZendeskSource(ZendeskExport(http, policy=policy, **kw))  # type: ignore[arg-type]


def seed_tickets(fake: FakeZendesk, count: int) -> None:
    for i in range(count):
        user = fake._upsert_user({"email": f"person{i % 7}@example.com", "name": f"P{i % 7}"})[0]
        fake.seed_ticket(updated_at=T0 + i, requester_id=user["id"], status="open", tags=["a"])


def job(source: ZendeskSource | IntercomSource, topic: MemoryTopic, tmp: Path) -> Backfill:
    state = StateFile(tmp, source.name)
    return Backfill(source, topic, state, progress=Progress("t", interval=3600))  # type: ignore[arg-type]


class TestZendeskBackfill:
    """The incremental export, page by page, into raw envelopes the normalizer understands."""

    async def test_every_ticket_once_in_trigger_shape(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_zendesk(page_size=10)
        seed_tickets(fake, 35)
        topic = MemoryTopic()
        state = await job(zendesk_source(fake, session), topic, tmp_path).run(T0)
        assert state.done and state.written == 35 and state.pages == 4
        assert len({e.headers[ITEM] for e in topic.records}) == 35
        envelope = topic.records[0]
        assert envelope.origin == "backfill" and envelope.key == "email:person0@example.com"
        (event,) = zendesk_normalize(envelope.body, datetime.now(UTC))
        assert event.identities.email == "person0@example.com"
        assert event.ticket is not None and event.ticket.status == "open"
        assert event.occurred_at == datetime.fromtimestamp(T0, UTC)

    async def test_crash_after_write_resumes_without_duplicates(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_zendesk(page_size=10)
        seed_tickets(fake, 45)
        topic = MemoryTopic(crash_on_write=3)
        with pytest.raises(RuntimeError):
            await job(zendesk_source(fake, session), topic, tmp_path).run(T0)
        saved = StateFile(tmp_path, "zendesk").load()
        assert saved is not None and saved.pending is not None and saved.pages == 2
        state = await job(zendesk_source(fake, session), topic, tmp_path).run(T0)
        assert state.done and state.pending is None
        ids = [e.headers[ITEM] for e in topic.records]
        assert len(ids) == len(set(ids)) == 45

    async def test_stop_and_resume_from_stored_cursor(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_zendesk(page_size=10)
        seed_tickets(fake, 30)
        topic = MemoryTopic()
        first = job(zendesk_source(fake, session), topic, tmp_path)
        first.stop_requested.set()  # a Ctrl-C: the page in flight still completes
        state = await first.run(T0)
        assert not state.done and state.written == 0
        state = await job(zendesk_source(fake, session), topic, tmp_path).run(T0)
        assert state.done and len(topic.records) == 30
        again = await job(zendesk_source(fake, session), topic, tmp_path).run(T0)
        assert again.done and len(topic.records) == 30, "a finished backfill writes nothing"

    async def test_rate_limit_429_is_honoured(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_zendesk(page_size=5, rate_limit=RateLimit(2, 1.0))
        seed_tickets(fake, 20)
        bucket = TokenBucket(50.0, 5.0)
        topic = MemoryTopic()
        state = await job(zendesk_source(fake, session, bucket=bucket), topic, tmp_path).run(T0)
        assert state.done and len(topic.records) == 20
        assert any(r.status == 429 for r in fake.requests)
        fake.assert_no_violations()


def intercom_source(fake: FakeIntercom, session: aiohttp.ClientSession) -> IntercomSource:
    http = intercom_http(session, "test-token", base_url=fake.base_url)
    return IntercomSource(ConversationSearch(http, per_page=4))


class TestIntercomBackfill:
    """Conversation search by updated_at, as notifications the normalizer understands."""

    async def test_conversations_since_as_notifications(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_intercom()
        fake.seed_conversation(updated_at=T0 - 100)  # before --since: not backfilled
        for i in range(10):
            contact = {"type": "contact", "id": f"c{i}", "email": f"c{i}@example.com"}
            fake.seed_conversation(
                updated_at=T0 + i, state="closed" if i % 2 else "open",
                contacts={"type": "contact.list", "contacts": [contact]},
            )
        topic = MemoryTopic(crash_on_write=2)
        with pytest.raises(RuntimeError):
            await job(intercom_source(fake, session), topic, tmp_path).run(T0)
        state = await job(intercom_source(fake, session), topic, tmp_path).run(T0)
        assert state.done
        ids = [e.headers[ITEM] for e in topic.records]
        assert len(ids) == len(set(ids)) == 10
        kinds = set()
        for envelope in topic.records:
            (event,) = intercom_normalize(envelope.body, datetime.now(UTC))
            kinds.add(event.kind.value)
            assert event.identities.intercom_contact_id is not None
        assert kinds == {"conversation_opened", "conversation_closed"}
        fake.assert_no_violations()

    async def test_progress_shows_percent_and_eta_from_the_total(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_intercom()
        for i in range(10):
            contact = {"type": "contact", "id": f"c{i}", "email": f"c{i}@example.com"}
            fake.seed_conversation(
                updated_at=T0 + i, contacts={"type": "contact.list", "contacts": [contact]}
            )
        out = io.StringIO()
        progress = Progress("backfill intercom", unit="written", stream=out, interval=0.0)
        state = StateFile(tmp_path, "intercom")
        backfill = Backfill(intercom_source(fake, session), MemoryTopic(), state,  # type: ignore[arg-type]
                            progress=progress)
        await backfill.run(T0)
        lines = out.getvalue().splitlines()
        assert "40% (4/10)" in lines[0] and "ETA " in lines[0]
        assert "100% (10/10)" in lines[-1] and "complete" in lines[-1]
