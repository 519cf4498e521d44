from __future__ import annotations

import pytest

from contracts.events import EventKind, Identities, RatingInfo
from streams.state import InvalidEvent, apply

from .factory import CONFIG, KEY, at, event, kinds, rating, run


class TestCsat:
    """Ratings update last_csat_* and low scores (bad, <= 2) start recovery."""

    def test_good_rating(self) -> None:
        state, out = run([rating("r1", "good", at())])
        assert kinds(out)[0] == "csat_received"
        assert out[0].rating is not None and out[0].rating["low"] is False
        assert state.exported_attributes()["last_csat_score"] == "good"
        assert state.exported_attributes()["last_csat_at"] == int(at().timestamp())
        assert state.support_state == "clear"

    @pytest.mark.parametrize("score", [1, 2])
    def test_low_intercom_rating(self, score: int) -> None:
        state, out = run([rating("r1", score, at(), source="intercom")])
        assert state.support_state == "recovery"
        assert out[-1].reason == "low_csat"

    def test_three_is_not_low(self) -> None:
        state, _ = run([rating("r1", 3, at(), source="intercom")])
        assert state.support_state == "clear"

    def test_older_rating_does_not_overwrite(self) -> None:
        state, out = run([rating("r1", "good", at(hours=2)), rating("r2", "bad", at(hours=1))])
        assert state.csat is not None and state.csat.score == "good"
        assert kinds(out).count("csat_received") == 2

    def test_unreadable_score(self) -> None:
        bad = event(
            "r1",
            EventKind.CONVERSATION_RATED,
            source="intercom",
            rating=RatingInfo(score="great", scale="one_to_five"),
        )
        with pytest.raises(InvalidEvent):
            apply(None, bad, KEY, CONFIG)


class TestConsent:
    """An unsubscribe anywhere wins; a subscribe clears only its own platform's flag."""

    def test_unsubscribe_sets_flag(self) -> None:
        state, out = run([event("u1", EventKind.UNSUBSCRIBED, source="customerio")])
        assert not state.consent.allows("email") and state.consent.allows("sms")
        assert kinds(out) == ["consent_changed"]
        assert out[0].consent.email is False and out[0].consent.ads is True

    def test_channel_from_attributes(self) -> None:
        state, _ = run([event("u1", EventKind.UNSUBSCRIBED, attributes={"channel": "SMS"})])
        assert not state.consent.allows("sms") and state.consent.allows("email")

    def test_subscribe_elsewhere_does_not_clear(self) -> None:
        state, out = run(
            [
                event("u1", EventKind.UNSUBSCRIBED, at(), source="customerio"),
                event("s1", EventKind.SUBSCRIBED, at(hours=1), source="intercom"),
            ]
        )
        assert not state.consent.allows("email")
        assert kinds(out) == ["consent_changed"]

    def test_subscribe_same_platform_clears_its_flag_only(self) -> None:
        state, _ = run(
            [
                event("u1", EventKind.UNSUBSCRIBED, at(), source="customerio"),
                event("u2", EventKind.UNSUBSCRIBED, at(), source="intercom"),
                event("s1", EventKind.SUBSCRIBED, at(hours=1), source="customerio"),
            ]
        )
        assert state.consent.snapshot().unsubscribed == ("intercom:email",)
        assert not state.consent.allows("email")
        state, _ = run([event("s2", EventKind.SUBSCRIBED, at(hours=2), source="intercom")], state)
        assert state.consent.allows("email")

    def test_older_subscribe_does_not_clear(self) -> None:
        state, out = run(
            [
                event("u1", EventKind.UNSUBSCRIBED, at(hours=2), source="customerio"),
                event("s1", EventKind.SUBSCRIBED, at(hours=1), source="customerio"),
            ]
        )
        assert not state.consent.allows("email") and kinds(out) == ["consent_changed"]

    def test_every_transition_carries_consent(self) -> None:
        from .factory import opened

        state, out = run(
            [event("u1", EventKind.UNSUBSCRIBED, attributes={"channel": "ads"}), opened("e1", "1")]
        )
        assert all(t.consent.ads is False for t in out)


class TestSegments:
    """segment_entered / segment_exited maintain the Customer.io segments."""

    def test_enter_and_exit(self) -> None:
        enter = event(
            "s1", EventKind.SEGMENT_ENTERED, source="customerio", attributes={"segment": 7}
        )
        other = event(
            "s2", EventKind.SEGMENT_ENTERED, source="customerio", attributes={"segment": "vip"}
        )
        leave = event(
            "s3", EventKind.SEGMENT_EXITED, source="customerio", attributes={"segment": 7}
        )
        state, out = run([enter, other])
        assert state.segments == ("7", "vip")
        assert out[-1].details == {"segment": "vip", "action": "entered", "segments": ["7", "vip"]}
        state, out = run([leave], state)
        assert state.segments == ("vip",) and kinds(out) == ["segments_changed"]

    def test_exit_of_unknown_segment_emits_nothing(self) -> None:
        leave = event("s1", EventKind.SEGMENT_EXITED, attributes={"segment": "x"})
        _, out = run([leave])
        assert out == []

    def test_missing_segment_is_invalid(self) -> None:
        with pytest.raises(InvalidEvent):
            apply(None, event("s1", EventKind.SEGMENT_ENTERED), KEY, CONFIG)


class TestProfile:
    """Profile fields keep source and time; the newer value wins, an older never overwrites."""

    def test_fields_recorded_with_source(self) -> None:
        state, out = run(
            [
                event(
                    "p1",
                    EventKind.CONTACT_UPDATED,
                    at(),
                    source="intercom",
                    attributes={"plan": "pro"},
                )
            ]
        )
        field = state.profile["plan"]
        assert (field.value, field.source, field.at) == ("pro", "intercom", at())
        assert out[0].kind == "profile_changed" and out[0].details == {"fields": {"plan": "pro"}}

    def test_identify_traits(self) -> None:
        identify = event(
            "p1", EventKind.IDENTIFY, source="pipelines", attributes={"traits": {"name": "Ann"}}
        )
        state, _ = run([identify])
        assert state.profile["name"].value == "Ann"

    def test_older_value_never_overwrites(self) -> None:
        newer = event("p1", EventKind.CONTACT_UPDATED, at(hours=2), attributes={"plan": "pro"})
        older = event("p2", EventKind.CONTACT_UPDATED, at(hours=1), attributes={"plan": "free"})
        state, out = run([newer, older])
        assert state.profile["plan"].value == "pro"
        assert kinds(out) == ["profile_changed"]

    def test_tie_is_order_independent(self) -> None:
        a = event("p1", EventKind.CONTACT_UPDATED, at(), source="intercom", attributes={"x": 1})
        b = event("p2", EventKind.CONTACT_UPDATED, at(), source="zendesk", attributes={"x": 2})
        assert run([a, b])[0].profile == run([b, a])[0].profile


class TestIdentitiesAndBookkeeping:
    """Identities accumulate; every processed event is counted and remembered (bounded)."""

    def test_identities_union(self) -> None:
        state, _ = run(
            [
                event("t1", EventKind.TRACK, identities=Identities(email="a@b.com")),
                event("t2", EventKind.TRACK, identities=Identities(cio_id="cio-1")),
            ]
        )
        assert state.identities == Identities(email="a@b.com", cio_id="cio-1")
        assert state.seq == 2

    def test_processed_ids_are_bounded_fifo(self) -> None:
        from streams.state import StateConfig

        small = StateConfig(processed_ids_max=3)
        state, _ = run([event(f"t{i}", EventKind.TRACK) for i in range(5)], config=small)
        assert len(state.processed_ids) == 3
        assert state.has_processed("t4") and not state.has_processed("t0")

    def test_events_without_state_effect_emit_nothing(self) -> None:
        for kind in (EventKind.EMAIL_ENGAGEMENT, EventKind.LIFECYCLE_EVENT, EventKind.GROUP):
            _, out = run([event("x", kind)])
            assert out == []
