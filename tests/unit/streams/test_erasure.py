"""Erasure logic: the person's keys and links, the deny list, ingest dropping old events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.events import EventKind, Identities, SupportEvent, TicketInfo
from contracts.records import Erase, RawEnvelope, decode_by_customer, encode_erase
from streams import identity
from streams.erasure import DenyList, ErasureRecord, deny_keys, is_identifier_key, linked_keys
from streams.stages import ingest

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ERASED_AT = T0.timestamp()


def _event(event_id: str, when: datetime, **ids: str) -> SupportEvent:
    return SupportEvent(
        event_id=event_id, source="zendesk", kind=EventKind.TICKET_OPENED,
        occurred_at=when, received_at=when, identities=Identities(**ids),
        ticket=TicketInfo(id=event_id, status="open", updated_at=when),
    )


def _deny(email: str, *others: str) -> DenyList:
    key = identity.new_customer_key(f"email:{email}")
    deny = DenyList()
    deny.add(ErasureRecord(key, ERASED_AT, tuple(deny_keys([key], [f"email:{email}", *others]))))
    return deny


class TestLinkedKeys:
    """A person's keys: merged-in keys followed transitively; links, pointers, owners."""

    ENTRIES = [
        ("email:ann@example.com", "c:aaa"),
        ("zendesk_user_id:7", "c:bbb"),
        ("merged:c:bbb", "c:aaa"),
        ("phone:+15550100", "c:ccc"),
        ("merged:c:ccc", "c:bbb"),
        ("owner:c:aaa:external_id", "x-1"),
        ("email:bob@example.com", "c:zzz"),
        ("owner:c:zzz:external_id", "x-2"),
        ("merged:c:yyy", "c:zzz"),
    ]

    def test_person_and_merged_keys(self) -> None:
        customers, links = linked_keys("c:aaa", self.ENTRIES)
        assert customers == ["c:aaa", "c:bbb", "c:ccc"]
        assert links == sorted([
            "email:ann@example.com", "zendesk_user_id:7", "merged:c:bbb", "phone:+15550100",
            "merged:c:ccc", "owner:c:aaa:external_id",
        ])

    def test_others_untouched(self) -> None:
        _, links = linked_keys("c:aaa", self.ENTRIES)
        assert not any("bob" in k or "zzz" in k or "yyy" in k for k in links)

    def test_identifier_keys_only_feed_the_deny_list(self) -> None:
        _, links = linked_keys("c:aaa", self.ENTRIES)
        idents = [k for k in links if is_identifier_key(k)]
        assert idents == ["email:ann@example.com", "phone:+15550100", "zendesk_user_id:7"]
        keys = deny_keys(["c:aaa"], idents)
        assert identity.new_customer_key("zendesk_user_id:7") in keys and "c:aaa" in keys
        assert not any("ann" in k or "7" == k for k in keys)


class TestDenyList:
    """Events from before the erasure are denied; later ones are new facts."""

    def test_older_denied_newer_kept(self) -> None:
        deny = _deny("ann@example.com")
        assert deny.denies_event(_event("e1", T0 - timedelta(days=3), email="ann@example.com"))
        assert deny.denies_event(_event("e2", T0, email="ann@example.com"))
        assert not deny.denies_event(
            _event("e3", T0 + timedelta(seconds=1), email="ann@example.com")
        )

    def test_any_identifier_of_the_person(self) -> None:
        deny = _deny("ann@example.com", "zendesk_user_id:7")
        old = T0 - timedelta(hours=1)
        # Named first by another identifier of hers: still her.
        assert deny.denies_event(_event("e1", old, zendesk_user_id="7"))
        assert deny.denies_event(_event("e2", old, email="new@example.com", zendesk_user_id="7"))
        assert not deny.denies_event(_event("e3", old, email="other@example.com"))

    def test_by_customer_key(self) -> None:
        deny = _deny("ann@example.com")
        key = identity.new_customer_key("email:ann@example.com")
        assert deny.denies_key(key, T0 - timedelta(seconds=1))
        assert not deny.denies_key(key, T0 + timedelta(seconds=1))
        assert not deny.denies_key("c:other", T0 - timedelta(days=1))

    def test_latest_erasure_wins(self) -> None:
        deny = _deny("ann@example.com")
        key = identity.new_customer_key("email:ann@example.com")
        later = T0 + timedelta(days=1)
        deny.add(ErasureRecord(key, later.timestamp(), (key,)))
        deny.add(ErasureRecord(key, ERASED_AT, (key,)))  # an older record read later
        assert deny.denies_key(key, later - timedelta(seconds=1))

    def test_empty_is_false(self) -> None:
        assert not DenyList()
        assert not DenyList().denies_event(_event("e1", T0, email="ann@example.com"))


class TestRecord:
    """The erasure record round-trips and names no identifier in clear."""

    def test_round_trip_without_identifiers(self) -> None:
        record = ErasureRecord(
            "c:aaa", ERASED_AT, tuple(deny_keys(["c:aaa"], ["email:ann@example.com"])), links=3
        )
        raw = record.to_json()
        assert b"ann" not in raw and b"example.com" not in raw
        assert ErasureRecord.from_json(raw) == record

    def test_erase_command_round_trip(self) -> None:
        command = Erase("c:aaa", ERASED_AT, ("email:ann@example.com", "merged:c:bbb"))
        assert decode_by_customer(encode_erase(command)) == command


class TestIngestDenies:
    """Ingest drops an erased person's old events before they link anything."""

    def test_dropped_before_linking(self) -> None:
        deny = _deny("ann@example.com")
        old, new = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
        events = {
            "a": [_event("a", old, email="ann@example.com", zendesk_user_id="7")],
            "b": [_event("b", old, email="bob@example.com")],
            "c": [_event("c", new, email="ann@example.com")],
        }
        envelopes = [
            RawEnvelope(source="zendesk", body=b"{}", received_at=ERASED_AT, key=k)
            for k in events
        ]
        links: dict[str, str] = {}
        result = ingest(
            envelopes, normalize=lambda env: events[env.key], lookup=links.get,
            link=links.__setitem__, partitions=4, denied=deny.denies_event,
        )
        routed = sorted(e.event_id for items in result.by_partition.values() for _, e, _ in items)
        assert routed == ["b", "c"] and result.erased == 1
        assert "zendesk_user_id:7" not in links  # the old event linked nothing
        assert links["email:ann@example.com"] == identity.new_customer_key(
            "email:ann@example.com"
        )
