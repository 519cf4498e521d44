"""Canonical events (SPEC S3): what every normalizer produces and the state machine consumes.

A `SupportEvent` is platform-neutral. Normalizers (one per platform, pure functions in
`connectors/<platform>/normalize.py`) turn raw webhook bodies into these; the identity stage
attaches a customer key; the state machine folds them into `SupportState`.

Serialisation is orjson over `model_dump(mode="json")`; `from_json`/`to_json` are the only
codec used on the topics so the wire format is in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

Source = Literal["zendesk", "intercom", "customerio", "pipelines"]
Origin = Literal["live", "backfill", "replay"]


class EventKind(StrEnum):
    TICKET_OPENED = "ticket_opened"
    TICKET_STATUS_CHANGED = "ticket_status_changed"
    TICKET_MERGED = "ticket_merged"
    TICKET_PRIORITY_CHANGED = "ticket_priority_changed"
    TICKET_TAGS_CHANGED = "ticket_tags_changed"
    CSAT_RECEIVED = "csat_received"
    CONVERSATION_OPENED = "conversation_opened"
    CONVERSATION_CLOSED = "conversation_closed"
    CONVERSATION_TAGGED = "conversation_tagged"
    CONVERSATION_RATED = "conversation_rated"
    CONTACT_UPDATED = "contact_updated"
    #: a helpdesk organization changed: no person, no customer state (R10 → companies)
    ORGANIZATION_UPDATED = "organization_updated"
    UNSUBSCRIBED = "unsubscribed"
    SUBSCRIBED = "subscribed"
    EMAIL_ENGAGEMENT = "email_engagement"
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_EXITED = "segment_exited"
    LIFECYCLE_EVENT = "lifecycle_event"
    IDENTIFY = "identify"
    GROUP = "group"
    TRACK = "track"


def normalize_email(value: str | None) -> str | None:
    """Emails are keys: trimmed and lower-cased; empty means absent."""
    if value is None:
        return None
    cleaned = value.strip().lower()
    return cleaned or None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identities(_Model):
    """Every identifier a platform told us about the person; all optional."""

    email: str | None = None
    external_id: str | None = None
    zendesk_user_id: str | None = None
    intercom_contact_id: str | None = None
    cio_id: str | None = None
    phone: str | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _normalize_email(cls, value: Any) -> Any:
        return normalize_email(value) if isinstance(value, str) else value

    @field_validator(
        "external_id", "zendesk_user_id", "intercom_contact_id", "cio_id", "phone", mode="before"
    )
    @classmethod
    def _ids_as_strings(cls, value: Any) -> Any:
        # Zendesk event webhooks send ids as strings, the REST API as integers.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value.strip() or None
        return value

    def pairs(self) -> list[tuple[str, str]]:
        """(kind, value) for every identifier present, in a fixed order."""
        return [(k, v) for k, v in self.model_dump().items() if v]

    def merged(self, other: Identities) -> Identities:
        """Fields of `self`, filled in from `other` where `self` has none."""
        mine = self.model_dump()
        theirs = other.model_dump()
        return Identities(**{k: mine[k] or theirs[k] for k in mine})


class TicketInfo(_Model):
    """A Zendesk ticket as one event saw it. `status` is lower-case (new/open/pending/hold/
    solved/closed/deleted); `updated_at` is platform time, used to drop stale updates."""

    id: str
    status: str | None = None
    priority: str | None = None
    reason: str | None = None
    tags: tuple[str, ...] = ()
    subject: str | None = None
    channel: str | None = None
    assignee: str | None = None
    group: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    merged_into: str | None = None

    @field_validator("id", "merged_into", mode="before")
    @classmethod
    def _id_as_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("status", "priority", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        # Event-subscribed webhooks say "SOLVED"/"HIGH"; the REST API says "solved"/"high".
        return value.strip().lower() if isinstance(value, str) else value


class ConversationInfo(_Model):
    """An Intercom conversation. `state` is open/snoozed/closed."""

    id: str
    state: str | None = None
    priority: str | None = None
    reason: str | None = None
    tags: tuple[str, ...] = ()
    admin_id: str | None = None
    updated_at: datetime | None = None
    created_at: datetime | None = None


class RatingInfo(_Model):
    """CSAT: Zendesk good/bad, or Intercom 1–5. `score` keeps the platform's value."""

    score: str | int
    scale: Literal["good_bad", "one_to_five"]
    ticket_id: str | None = None
    comment: bool = False
    comment_text: str | None = None  # what the customer wrote, for the CSAT event (R6)

    @property
    def is_low(self) -> bool:
        if self.scale == "good_bad":
            return str(self.score).lower() == "bad"
        return int(self.score) <= 2


class SupportEvent(_Model):
    event_id: str
    source: Source
    kind: EventKind
    occurred_at: datetime
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    identities: Identities = Identities()
    ticket: TicketInfo | None = None
    conversation: ConversationInfo | None = None
    rating: RatingInfo | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    origin: Origin = "live"
    #: who made the change on the platform, when the payload says: a Zendesk user id or
    #: email (ticket event actor, trigger updater), an Intercom admin id (the author of the
    #: conversation part). Lets the ingest stage recognise supportsync's own writes.
    author_id: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_defaults=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> SupportEvent:
        return cls.model_validate(orjson.loads(data))
