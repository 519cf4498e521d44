"""Loop prevention by author: recognise the changes supportsync itself made (SPEC S6).

supportsync writes to Zendesk as one API user and to Intercom as one admin. When a webhook
reports a change whose author (`SupportEvent.author_id`) is that writer, the change is our
own write coming back. Such an event is dropped, and counted (the identities it carries
are still linked: they are facts, whoever wrote them), unless it reports a ticket's
or conversation's lifecycle (opened, status changed, merged, closed, opened or snoozed by
an explicit state change): the suppression state needs those facts whoever caused them
(R9 closing an Intercom conversation must clear the customer), and the state machine
ignores repeats. Everything else we write (profile fields, tags, priorities, notes and
replies) is already known to the state, and reacting to its echo is how two-way syncs
ping-pong.

The writers are configured (`SUPPORTSYNC_ZENDESK_API_USER_ID`, `SUPPORTSYNC_INTERCOM_ADMIN_ID`;
the Zendesk credentials' email counts too) and learned at start from the platforms' "who am
I" endpoints when credentials exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.events import EventKind, SupportEvent

#: kinds kept even when we wrote them: lifecycle facts the state must hold
LIFECYCLE_KINDS = frozenset(
    {
        EventKind.TICKET_OPENED,
        EventKind.TICKET_STATUS_CHANGED,
        EventKind.TICKET_MERGED,
        EventKind.CONVERSATION_CLOSED,
    }
)
#: Intercom topics that are conversation_opened only because a part was added
_PART_ONLY_TOPICS = (".replied", ".noted", ".assigned")


@dataclass
class OwnWriters:
    """The ids (and emails) supportsync writes as, per source platform."""

    ids: dict[str, set[str]] = field(default_factory=dict)

    def add(self, source: str, author: str | None) -> None:
        if author and author.strip():
            self.ids.setdefault(source, set()).add(author.strip().lower())

    def wrote(self, event: SupportEvent) -> bool:
        """True when the event reports a change made by our own writer."""
        author = event.author_id
        return author is not None and author.lower() in self.ids.get(event.source, ())

    def is_echo(self, event: SupportEvent) -> bool:
        """True for an event to drop: our own write that is not a lifecycle fact."""
        if not self.wrote(event):
            return False
        if event.kind in LIFECYCLE_KINDS:
            return False
        if event.kind == EventKind.CONVERSATION_OPENED:
            topic = str(event.attributes.get("topic", ""))
            return topic.endswith(_PART_ONLY_TOPICS)
        return True
