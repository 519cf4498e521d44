"""The Customer.io Track (v1, v2) and App API contract (SPEC S6 "Customer.io contracts").

Customer.io publishes no machine-readable spec, so this module is the single place where
the contract is written down. The production client imports the limits and ``check_*``
helpers to refuse bad actions before sending; the fake server calls ``check_request`` to
answer exactly as the real API would (401, 400, 404, 413).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import orjson

TRACK_BASE_URL = "https://track.customer.io"
TRACK_EU_BASE_URL = "https://track-eu.customer.io"
APP_BASE_URL = "https://api.customer.io"

MAX_IDENTIFIER_BYTES = 150
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1_000
MAX_ATTRIBUTES = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000
MAX_ENTITY_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TRACK_REQUESTS_PER_SECOND = 100  # fair use, not a hard limit
APP_REQUESTS_PER_SECOND = 10

IDENTIFIER_KEYS = ("id", "email", "cio_id")
V2_TYPES = frozenset({"person", "object", "delivery"})
V2_PERSON_ACTIONS = frozenset(
    {
        "identify",
        "event",
        "screen",
        "page",
        "delete",
        "suppress",
        "unsuppress",
        "add_relationships",
        "delete_relationships",
        "add_device",
        "delete_device",
        "merge",
    }
)
# Reserved v1 keys that are not customer attributes and so do not count against the limits.
V1_RESERVED_KEYS = frozenset({"_timestamp", "_update"})

Api = Literal["track", "app"]


class ContractViolation(Exception):
    """A request the real Customer.io API would refuse, with the status it would answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Route:
    """One documented endpoint."""

    api: Api
    method: str
    name: str
    pattern: re.Pattern[str]
    has_body: bool


@dataclass(frozen=True)
class ValidRequest:
    """A request that satisfied the contract, with what the fake needs to act on it."""

    route: Route
    params: dict[str, str]
    body: Any = field(default=None)


def _route(api: Api, method: str, name: str, template: str, has_body: bool = True) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(api, method, name, re.compile(f"^{regex}$"), has_body)


ROUTES: tuple[Route, ...] = (
    _route("track", "PUT", "v1.identify", "/api/v1/customers/{identifier}"),
    _route("track", "DELETE", "v1.delete", "/api/v1/customers/{identifier}", has_body=False),
    _route("track", "POST", "v1.event", "/api/v1/customers/{identifier}/events"),
    _route("track", "POST", "v1.anonymous_event", "/api/v1/events"),
    _route("track", "POST", "v1.suppress", "/api/v1/customers/{identifier}/suppress", False),
    _route("track", "POST", "v1.unsuppress", "/api/v1/customers/{identifier}/unsuppress", False),
    _route("track", "POST", "v1.merge", "/api/v1/merge_customers"),
    _route("track", "POST", "v2.entity", "/api/v2/entity"),
    _route("track", "POST", "v2.batch", "/api/v2/batch"),
    _route("app", "POST", "app.trigger", "/v1/campaigns/{campaign_id}/triggers"),
    _route("app", "GET", "app.customer_segments", "/v1/customers/{identifier}/segments", False),
    _route("app", "GET", "app.segments", "/v1/segments", has_body=False),
)


def byte_len(value: Any) -> int:
    """Size of a value as Customer.io counts it: UTF-8 bytes of strings, compact JSON
    otherwise (orjson's output; the standard library only for what orjson refuses, such as
    integers past 64 bits)."""
    if isinstance(value, str):
        return len(value.encode())
    try:
        return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_identifier(value: Any, what: str = "identifier") -> None:
    """Raise ContractViolation unless ``value`` is a usable person identifier."""
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ContractViolation(400, f"{what} must be a non-empty string or integer")
    if byte_len(str(value)) > MAX_IDENTIFIER_BYTES:
        raise ContractViolation(400, f"{what} longer than {MAX_IDENTIFIER_BYTES} bytes")


def check_attributes(attrs: Any, what: str = "attributes") -> None:
    """Raise ContractViolation if the attribute map breaks a name, value or count limit."""
    if not isinstance(attrs, Mapping):
        raise ContractViolation(400, f"{what} must be an object")
    names = [k for k in attrs if k not in V1_RESERVED_KEYS]
    if len(names) > MAX_ATTRIBUTES:
        raise ContractViolation(400, f"{what}: more than {MAX_ATTRIBUTES} attributes")
    for name in names:
        if byte_len(name) > MAX_ATTRIBUTE_NAME_BYTES:
            raise ContractViolation(
                400, f"{what}: name {name[:20]!r}... longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes"
            )
        if byte_len(attrs[name]) > MAX_ATTRIBUTE_VALUE_BYTES:
            raise ContractViolation(
                400, f"{what}: value of {name!r} longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes"
            )


def check_event(name: Any, data: Any = None) -> None:
    """Raise ContractViolation unless ``name``/``data`` form a valid event."""
    if not isinstance(name, str) or not name:
        raise ContractViolation(400, "event name is required")
    if byte_len(name) > MAX_EVENT_NAME_BYTES:
        raise ContractViolation(400, f"event name longer than {MAX_EVENT_NAME_BYTES} bytes")
    if data is not None:
        if not isinstance(data, Mapping):
            raise ContractViolation(400, "event data must be an object")
        if byte_len(data) > MAX_EVENT_DATA_BYTES:
            raise ContractViolation(400, f"event data larger than {MAX_EVENT_DATA_BYTES} bytes")


def check_identifiers(identifiers: Any, what: str = "identifiers") -> None:
    """Raise unless ``identifiers`` holds exactly one of id, email, cio_id."""
    if not isinstance(identifiers, Mapping):
        raise ContractViolation(400, f"{what} must be an object")
    keys = [k for k in identifiers if k in IDENTIFIER_KEYS]
    if len(keys) != 1 or len(identifiers) != 1:
        raise ContractViolation(400, f"{what} must hold exactly one of id, email, cio_id")
    check_identifier(identifiers[keys[0]], f"{what}.{keys[0]}")


def check_v2_entity(entity: Any, where: str = "entity") -> None:
    """Raise ContractViolation unless ``entity`` is a valid v2 entity (size included)."""
    if not isinstance(entity, Mapping):
        raise ContractViolation(400, f"{where} must be an object")
    if byte_len(entity) > MAX_ENTITY_BYTES:
        raise ContractViolation(413, f"{where} larger than {MAX_ENTITY_BYTES} bytes")
    kind, action = entity.get("type"), entity.get("action")
    if kind not in V2_TYPES:
        raise ContractViolation(400, f"{where}.type must be one of {sorted(V2_TYPES)}")
    if not isinstance(action, str) or not action:
        raise ContractViolation(400, f"{where}.action is required")
    if "timestamp" in entity and not _is_int(entity["timestamp"]):
        raise ContractViolation(400, f"{where}.timestamp must be unix seconds (integer)")
    if kind != "person":
        return  # objects and deliveries are accepted but not modelled further
    if action not in V2_PERSON_ACTIONS:
        raise ContractViolation(400, f"{where}.action {action!r} is not a person action")
    if action == "merge":
        check_identifiers(entity.get("primary"), f"{where}.primary")
        check_identifiers(entity.get("secondary"), f"{where}.secondary")
        return
    check_identifiers(entity.get("identifiers"), f"{where}.identifiers")
    if action in ("event", "screen", "page"):
        # v2 carries event data in ``attributes``
        check_event(entity.get("name"), entity.get("attributes"))
    elif "attributes" in entity:
        check_attributes(entity["attributes"], f"{where}.attributes")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """Find the documented route for ``method path``; 404 when there is none."""
    raw = urlsplit(path).path
    for route in ROUTES:
        found = route.pattern.match(raw)
        if found and route.method == method.upper():
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
    raise ContractViolation(404, f"route not found: {method.upper()} {raw}")


def _check_auth(
    route: Route, headers: Mapping[str, str], site_id: str, api_key: str, app_api_key: str | None
) -> None:
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, cred = auth.partition(" ")
    if route.api == "app":
        ok = app_api_key is not None and scheme.lower() == "bearer"
        if not ok or not hmac.compare_digest(cred.encode(), (app_api_key or "").encode()):
            raise ContractViolation(401, "App API needs Authorization: Bearer <app api key>")
        return
    try:
        decoded = base64.b64decode(cred, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    expected = f"{site_id}:{api_key}"
    if scheme.lower() != "basic" or not hmac.compare_digest(decoded.encode(), expected.encode()):
        raise ContractViolation(401, "Track API needs HTTP basic auth site_id:api_key")


def _parse_body(route: Route, body: bytes) -> Any:
    if not body.strip():
        if route.has_body and route.name != "app.trigger":
            raise ContractViolation(400, "request body is required")
        return {}
    if route.name == "v2.batch" and len(body) > MAX_BATCH_BYTES:
        raise ContractViolation(413, f"batch larger than {MAX_BATCH_BYTES} bytes")
    if route.name == "v2.entity" and len(body) > MAX_ENTITY_BYTES:
        raise ContractViolation(413, f"entity larger than {MAX_ENTITY_BYTES} bytes")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractViolation(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ContractViolation(400, "body must be a JSON object")
    return parsed


def _check_semantics(route: Route, params: dict[str, str], body: dict[str, Any]) -> None:
    if "identifier" in params:
        check_identifier(params["identifier"])
    name = route.name
    if name == "v1.identify":
        if "_timestamp" in body and not _is_int(body["_timestamp"]):
            raise ContractViolation(400, "_timestamp must be unix seconds (integer)")
        check_attributes(body)
    elif name in ("v1.event", "v1.anonymous_event"):
        check_event(body.get("name"), body.get("data"))
        if "timestamp" in body and not _is_int(body["timestamp"]):
            raise ContractViolation(400, "timestamp must be unix seconds (integer)")
    elif name == "v1.merge":
        check_identifiers(body.get("primary"), "primary")
        check_identifiers(body.get("secondary"), "secondary")
    elif name == "v2.entity":
        check_v2_entity(body)
    elif name == "v2.batch":
        items = body.get("batch")
        if not isinstance(items, list) or not items:
            raise ContractViolation(400, "batch must be a non-empty array")
        for index, item in enumerate(items):
            check_v2_entity(item, f"batch[{index}]")
    elif name == "app.trigger" and not params["campaign_id"].isdigit():
        raise ContractViolation(404, "campaign not found")


def check_request(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    site_id: str,
    api_key: str,
    app_api_key: str | None = None,
) -> ValidRequest:
    """Validate a raw request; raise ContractViolation with the real API's status."""
    route, params = match_route(method, path)
    _check_auth(route, headers, site_id, api_key, app_api_key)
    parsed = _parse_body(route, body)
    _check_semantics(route, params, parsed)
    return ValidRequest(route=route, params=params, body=parsed)


def validate_request(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    site_id: str,
    api_key: str,
    app_api_key: str | None = None,
) -> ContractViolation | None:
    """Return the violation the real API would answer with, or None if it would accept."""
    try:
        check_request(
            method, path, headers, body, site_id=site_id, api_key=api_key, app_api_key=app_api_key
        )
    except ContractViolation as violation:
        return violation
    return None
