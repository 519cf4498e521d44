from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import Identities
from streams.identity import (
    IDENTIFIER_KINDS,
    Resolution,
    forward_key,
    identifier_keys,
    new_customer_key,
    owner_key,
    resolve,
)


class Table(dict[str, str]):
    """An in-memory identity table that applies resolutions like the agent does."""

    def run(self, identities: Identities) -> Resolution:
        resolution = resolve(identities, self.get)
        if resolution.conflict is None:
            self.update(resolution.new_links)
        return resolution


class TestIdentifierKeys:
    """Identifier keys come out in IDENTIFIER_KINDS order with normalised emails."""

    def test_order_and_format(self) -> None:
        who = Identities(phone="+1", zendesk_user_id=5, email=" A@B.com ", cio_id="x")
        assert identifier_keys(who) == [
            "email:a@b.com",
            "cio_id:x",
            "zendesk_user_id:5",
            "phone:+1",
        ]
        assert IDENTIFIER_KINDS[0] == "email"

    def test_empty(self) -> None:
        assert identifier_keys(Identities()) == []


class TestResolve:
    """One person across Zendesk, Intercom and Customer.io gets one key."""

    def test_new_person_gets_deterministic_key(self) -> None:
        table = Table()
        result = table.run(Identities(email="a@b.com", zendesk_user_id="1"))
        assert result.customer_key == new_customer_key("email:a@b.com")
        assert result.customer_key.startswith("c:") and result.merges == ()
        assert set(result.new_links) == {
            ("email:a@b.com", result.customer_key),
            ("zendesk_user_id:1", result.customer_key),
        }
        assert Table().run(Identities(email="a@b.com", zendesk_user_id="1")) == result

    def test_three_platforms_one_key(self) -> None:
        table = Table()
        zendesk = table.run(Identities(email="a@b.com", zendesk_user_id="1"))
        intercom = table.run(Identities(email="a@b.com", intercom_contact_id="ic-9"))
        cio = table.run(Identities(external_id="u-1", cio_id="cio-3", email="a@b.com"))
        assert zendesk.customer_key == intercom.customer_key == cio.customer_key
        assert table.run(Identities(cio_id="cio-3")).new_links == ()
        assert table[owner_key(cio.customer_key, "external_id")] == "u-1"

    def test_two_keys_merge_into_smallest(self) -> None:
        table = Table()
        first = table.run(Identities(email="a@b.com")).customer_key
        second = table.run(Identities(intercom_contact_id="ic-9")).customer_key
        survivor, absorbed = sorted([first, second])
        result = table.run(Identities(email="a@b.com", intercom_contact_id="ic-9"))
        assert result.customer_key == survivor
        assert result.merges == ((absorbed, survivor),)
        assert (forward_key(absorbed), survivor) in result.new_links

    def test_forwarding_pointer_is_followed(self) -> None:
        table = Table()
        a = table.run(Identities(email="a@b.com", phone="+1")).customer_key
        b = table.run(Identities(intercom_contact_id="ic-9")).customer_key
        survivor = table.run(Identities(email="a@b.com", intercom_contact_id="ic-9")).customer_key
        assert survivor == min(a, b)
        # "phone:+1" was written under `a`; if `a` lost, the lookup follows the forwarding
        # pointer and the resolution re-links the phone straight to the survivor.
        result = table.run(Identities(phone="+1"))
        assert result.customer_key == survivor
        assert table["phone:+1"] == survivor
        assert result.merges == ()

    def test_absorbed_keys_identifiers_are_forwarded(self) -> None:
        table = Table({"phone:+1": "c:b", "email:a@b.com": "c:b", "intercom_contact_id:i": "c:a"})
        merge = table.run(Identities(email="a@b.com", intercom_contact_id="i"))
        assert merge.customer_key == "c:a" and merge.merges == (("c:b", "c:a"),)
        assert table[forward_key("c:b")] == "c:a"
        result = table.run(Identities(phone="+1"))
        assert result.customer_key == "c:a" and result.new_links == (("phone:+1", "c:a"),)

    def test_two_external_ids_conflict(self) -> None:
        table = Table()
        table.run(Identities(email="shared@b.com", external_id="u-1"))
        before = dict(table)
        result = table.run(Identities(email="shared@b.com", external_id="u-2"))
        assert result.conflict is not None and "external_id" in result.conflict
        assert "shared@b.com" not in result.conflict  # no personal data in dlq reasons
        assert result.new_links == () and dict(table) == before

    def test_merging_two_accounts_conflicts(self) -> None:
        table = Table()
        table.run(Identities(email="a@b.com", external_id="u-1"))
        table.run(Identities(zendesk_user_id="7", external_id="u-2"))
        result = table.run(Identities(email="a@b.com", zendesk_user_id="7"))
        assert result.conflict is not None and result.merges == ()

    def test_one_account_and_a_guest_merge(self) -> None:
        table = Table()
        guest = table.run(Identities(email="a@b.com")).customer_key
        account = table.run(Identities(external_id="u-1")).customer_key
        result = table.run(Identities(email="a@b.com", external_id="u-1"))
        assert result.conflict is None and len(result.merges) == 1
        assert table[owner_key(result.customer_key, "external_id")] == "u-1"
        assert result.customer_key == min(guest, account)

    def test_no_identifiers(self) -> None:
        assert resolve(Identities(), {}.get).conflict == "no identifiers"

    def test_forwarding_cycle_is_a_conflict(self) -> None:
        table = {"email:a@b.com": "c:1", forward_key("c:1"): "c:2", forward_key("c:2"): "c:1"}
        result = resolve(Identities(email="a@b.com"), table.get)
        assert result.conflict is not None and "cycle" in result.conflict


kinds_values = st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["a@x.com", "b@x.com", "c@x.com"]),
        "intercom_contact_id": st.sampled_from(["i1", "i2", "i3"]),
        "zendesk_user_id": st.sampled_from(["1", "2", "3"]),
        "cio_id": st.sampled_from(["k1", "k2"]),
    },
)


class TestResolveProperties:
    """Without strong ids there are no conflicts and linked identifiers end on one key."""

    @settings(max_examples=150, deadline=None)
    @given(st.lists(kinds_values.filter(bool), min_size=1, max_size=12))
    def test_linked_identifiers_converge(self, sightings: list[dict[str, str]]) -> None:
        table = Table()
        for seen in sightings:
            result = table.run(Identities(**seen))
            assert result.conflict is None
        for seen in sightings:
            keys = {resolve(Identities(**{k: v}), table.get).customer_key for k, v in seen.items()}
            assert len(keys) == 1

    @settings(max_examples=100, deadline=None)
    @given(st.lists(kinds_values.filter(bool), min_size=1, max_size=12))
    def test_replay_gives_same_keys(self, sightings: list[dict[str, str]]) -> None:
        first, second = Table(), Table()
        assert [first.run(Identities(**s)) for s in sightings] == [
            second.run(Identities(**s)) for s in sightings
        ]
