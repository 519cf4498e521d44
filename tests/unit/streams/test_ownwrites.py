"""Loop prevention by author: our own writes are dropped at ingest, lifecycle facts kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.events import (
    ConversationInfo,
    EventKind,
    Identities,
    SupportEvent,
    TicketInfo,
)
from contracts.records import RawEnvelope, decode_event_batch, encode_event_batch
from streams.ownwrites import OwnWriters
from streams.stages import ingest

AT = datetime(2026, 12, 1, tzinfo=UTC)


def event(kind: EventKind, source: str = "zendesk", author: str | None = "900",
          **fields: Any) -> SupportEvent:
    return SupportEvent(event_id=f"e-{kind}-{author}", source=source, kind=kind,  # type: ignore[arg-type]
                        occurred_at=AT, identities=Identities(email="a@example.com"),
                        author_id=author, **fields)


def writers() -> OwnWriters:
    found = OwnWriters()
    found.add("zendesk", "900")
    found.add("zendesk", "API@example.com")
    found.add("intercom", "991")
    return found


class TestOwnWriters:
    """What our writer changed is an echo, except ticket and conversation lifecycle facts."""

    def test_profile_tags_and_parts_by_us_are_echoes(self) -> None:
        ticket = TicketInfo(id="1", tags=("x",))
        assert writers().is_echo(event(EventKind.CONTACT_UPDATED))
        assert writers().is_echo(event(EventKind.TICKET_TAGS_CHANGED, ticket=ticket))
        assert writers().is_echo(event(EventKind.CONTACT_UPDATED, author="api@EXAMPLE.com"))
        noted = event(EventKind.CONVERSATION_OPENED, "intercom", "991",
                      conversation=ConversationInfo(id="c"),
                      attributes={"topic": "conversation.admin.noted"})
        assert writers().is_echo(noted)

    def test_lifecycle_facts_and_other_authors_are_kept(self) -> None:
        ticket = TicketInfo(id="1", status="solved")
        assert not writers().is_echo(event(EventKind.TICKET_STATUS_CHANGED, ticket=ticket))
        closed = event(EventKind.CONVERSATION_CLOSED, "intercom", "991",
                       conversation=ConversationInfo(id="c", state="closed"))
        assert not writers().is_echo(closed)
        assert not writers().is_echo(event(EventKind.CONTACT_UPDATED, author="901"))
        assert not writers().is_echo(event(EventKind.CONTACT_UPDATED, author=None))
        # an id is ours on its own platform only
        assert not writers().is_echo(event(EventKind.CONTACT_UPDATED, "intercom", "900"))


class TestIngestDropsEchoes:
    """The ingest stage drops echoes before identity, counted by source and kind."""

    def test_counted_and_not_routed(self) -> None:
        ours = event(EventKind.CONTACT_UPDATED)
        theirs = event(EventKind.CONTACT_UPDATED, author="1")
        envelope = RawEnvelope(source="zendesk", key="k", body="{}", received_at=0.0)
        links: list[tuple[str, str]] = []
        result = ingest([envelope], normalize=lambda _: [ours, theirs], lookup=lambda _: None,
                        link=lambda i, k: links.append((i, k)), partitions=4,
                        own_writers=writers())
        routed = [e for items in result.by_partition.values() for _, e, _ in items]
        assert routed == [theirs]
        assert result.own_writes == {("zendesk", "contact_updated"): 1}

    def test_the_identities_an_echo_links_are_kept(self) -> None:
        ours = event(EventKind.CONTACT_UPDATED).replace(
            identities=Identities(email="b@example.com", zendesk_user_id="66"))
        envelope = RawEnvelope(source="zendesk", key="k", body="{}", received_at=0.0)
        links: dict[str, str] = {}
        result = ingest([envelope], normalize=lambda _: [ours], lookup=links.get,
                        link=links.__setitem__, partitions=4, own_writers=writers())
        assert result.by_partition == {}
        assert len(set(links.values())) == 1 and len(links) >= 2


class TestAuthorOnTheEventsTopic:
    """The author travels with the event (the fast codec keeps it)."""

    def test_round_trip(self) -> None:
        ours = event(EventKind.CONTACT_UPDATED)
        [(_, decoded, _)] = decode_event_batch(encode_event_batch([("k", ours, 0.0)]))
        assert decoded.author_id == "900" and decoded == ours


class TestIngestOrganizations:
    """Organization events skip identity: keyed by the organization, echoes dropped."""

    def test_keyed_by_organization_and_echo_dropped(self) -> None:
        def organization(event_id: str, author: str | None) -> SupportEvent:
            return SupportEvent(event_id=event_id, source="zendesk",
                                kind=EventKind.ORGANIZATION_UPDATED, occurred_at=AT,
                                attributes={"organization_id": "77", "name": "Acme"},
                                author_id=author)

        theirs, ours = organization("o1", "31337"), organization("o2", "900")
        envelope = RawEnvelope(source="zendesk", key="k", body="{}", received_at=0.0)
        links: list[tuple[str, str]] = []
        result = ingest([envelope], normalize=lambda _: [theirs, ours], lookup=lambda _: None,
                        link=lambda i, k: links.append((i, k)), partitions=4,
                        own_writers=writers())
        routed = [(k, e) for items in result.by_partition.values() for k, e, _ in items]
        assert routed == [("organization:zendesk:77", theirs)]
        assert result.dead_letters == [] and links == []
        assert result.own_writes == {("zendesk", "organization_updated"): 1}

    def test_without_organization_id_a_dead_letter(self) -> None:
        nameless = SupportEvent(event_id="o3", source="zendesk",
                                kind=EventKind.ORGANIZATION_UPDATED, occurred_at=AT,
                                attributes={"name": "Acme"})
        envelope = RawEnvelope(source="zendesk", key="k", body="{}", received_at=0.0)
        result = ingest([envelope], normalize=lambda _: [nameless], lookup=lambda _: None,
                        link=lambda i, k: None, partitions=4)
        assert result.by_partition == {}
        [letter] = result.dead_letters
        assert "organization_id" in letter.detail
