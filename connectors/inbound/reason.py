"""Where a ticket's reason (category) comes from, per helpdesk (SPEC S3 `ticket.reason`).

Helpdesks keep a ticket's reason in an account-specific place: a Zendesk custom ticket
field (a drop-down, say "Contact reason"), a tag naming it (`reason_billing`), or an
Intercom conversation custom attribute. A `ReasonRule` says which; the normalizers apply
it. The field wins over a tag; without a rule the reason stays unset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReasonRule:
    #: Zendesk: the custom ticket field id; Intercom: the conversation custom attribute name
    field: str | None = None
    #: a tag starting with this names the reason: "reason_" + "billing" -> "billing"
    tag_prefix: str | None = None

    def from_value(self, value: Any) -> str | None:
        if value is None or isinstance(value, dict | list | bool):
            return None
        text = str(value).strip()
        return text or None

    def from_tags(self, tags: Iterable[str]) -> str | None:
        prefix = self.tag_prefix
        if not prefix:
            return None
        for tag in tags:
            if tag.startswith(prefix) and len(tag) > len(prefix):
                return tag[len(prefix):]
        return None


NO_REASON = ReasonRule()
