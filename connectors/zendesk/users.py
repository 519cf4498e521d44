"""Zendesk user bodies from attribute actions (SPEC S5 R3/R4/R19).

`payload["attributes"]` holds the fields to set. Zendesk's own user properties go at the
top level; any other key is a custom user field and is sent under `user_fields` only when
the account has a user field with that key (read from `/api/v2/user_fields`): unknown
fields are dropped and counted, never sent (Zendesk would ignore or reject them).

The person is matched by `email` (when `Action.person` holds an "@") or `external_id`
(`payload["identify_by"]` overrides). Options: `payload["verified"]` (create users as
verified) and `payload["skip_verify_email"]`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from contracts.actions import Action

CORE_USER_FIELDS = frozenset(
    {
        "name",
        "email",
        "external_id",
        "phone",
        "time_zone",
        "iana_time_zone",
        "organization_id",
        "tags",
        "role",
        "details",
        "notes",
        "alias",
        "locale",
        "locale_id",
        "verified",
        "signature",
        "remote_photo_url",
        "shared_phone_number",
        "moderator",
        "only_private_comments",
        "restricted_agent",
        "suspended",
        "ticket_restriction",
        "default_group_id",
    }
)


def identify_by(action: Action) -> str:
    choice = action.payload.get("identify_by")
    if choice in ("email", "external_id"):
        return str(choice)
    return "email" if "@" in action.person else "external_id"


def user_body(action: Action, known_fields: set[str], dropped: Counter[str]) -> dict[str, Any]:
    """The `user` object for create_or_update(_many); counts dropped unknown fields."""
    user: dict[str, Any] = {identify_by(action): action.person}
    custom: dict[str, Any] = {}
    for key, value in action.attributes.items():
        if key == "user_fields" and isinstance(value, dict):
            for name, inner in value.items():
                _custom(custom, str(name), inner, known_fields, dropped)
        elif key in CORE_USER_FIELDS:
            user[key] = value
        else:
            _custom(custom, key, value, known_fields, dropped)
    if custom:
        user["user_fields"] = custom
    for option in ("verified", "skip_verify_email"):
        if action.payload.get(option) is True:
            user[option] = True
    return user


def _custom(
    into: dict[str, Any], key: str, value: Any, known: set[str], dropped: Counter[str]
) -> None:
    if key in known:
        into[key] = value
    else:
        dropped[key] += 1
