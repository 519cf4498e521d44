from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from connectors.pipelines.normalize import normalize
from contracts.events import EventKind

RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _body(**message: object) -> bytes:
    return orjson.dumps(message)


class TestNormalize:
    """identify/track/group map to their kinds; page/screen/alias yield nothing."""

    def test_identify(self) -> None:
        body = _body(
            type="identify",
            userId="u-42",
            anonymousId="a-1",
            messageId="m-1",
            timestamp="2026-11-01T10:00:00.123+00:00",
            traits={
                "email": " Pat@Example.com",
                "phone": "+15550100",
                "plan": "pro",
                "company": {"id": "c-1", "name": "Acme"},
            },
            context={"zendesk_user_id": 9001},
        )
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.IDENTIFY and ev.source == "pipelines"
        assert ev.event_id == "m-1"
        assert ev.occurred_at == datetime(2026, 11, 1, 10, 0, 0, 123000, tzinfo=UTC)
        assert ev.identities.external_id == "u-42"
        assert ev.identities.email == "pat@example.com"
        assert ev.identities.phone == "+15550100"
        assert ev.identities.zendesk_user_id == "9001"
        assert ev.attributes["traits"]["company"] == {"id": "c-1", "name": "Acme"}
        assert ev.attributes["user_id"] == "u-42" and ev.attributes["anonymous_id"] == "a-1"

    def test_track(self) -> None:
        body = _body(
            type="track",
            userId=42,
            event="Ticket Created",
            properties={"subject": "Help"},
            originalTimestamp="2026-11-01T09:00:00Z",
            context={"traits": {"email": "p@example.com"}, "zendesk_user_id": "77"},
        )
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.TRACK
        assert ev.attributes == {
            "user_id": "42",
            "event": "Ticket Created",
            "properties": {"subject": "Help"},
            "zendesk_user_id": "77",
        }
        assert ev.identities.email == "p@example.com"
        assert ev.occurred_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    def test_group(self) -> None:
        body = _body(
            type="group",
            userId="u-1",
            groupId=55,
            traits={"name": "Acme", "domainNames": ["acme.test"]},
        )
        [ev] = normalize(body, RECEIVED)
        assert ev.kind is EventKind.GROUP
        assert ev.attributes["group_id"] == "55"
        assert ev.attributes["traits"]["domainNames"] == ["acme.test"]
        assert ev.occurred_at == RECEIVED
        assert ev.event_id.startswith("pipelines:")

    @pytest.mark.parametrize("kind", ["page", "screen", "alias"])
    def test_unmapped_types(self, kind: str) -> None:
        assert normalize(_body(type=kind, userId="u"), RECEIVED) == []
