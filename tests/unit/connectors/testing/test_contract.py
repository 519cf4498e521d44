"""Customer.io contract: what the real Track and App APIs accept and refuse."""

from __future__ import annotations

import json

from connectors.customerio import contract
from tests.unit.connectors.testing.helpers import CIO_AUTH

KEYS = {"site_id": "test-site", "api_key": "test-key", "app_api_key": "test-app-key"}


def check(
    method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> contract.ContractViolation | None:
    raw = b"" if body is None else json.dumps(body).encode()
    auth = CIO_AUTH if headers is None else headers
    return contract.validate_request(method, path, auth, raw, **KEYS)


class TestTrackV1:
    """v1 customer, event and merge endpoints."""

    def test_identify_accepted(self) -> None:
        assert check("PUT", "/api/v1/customers/42", {"email": "a@x.io", "plan": "pro"}) is None

    def test_missing_auth_is_401(self) -> None:
        violation = check("PUT", "/api/v1/customers/42", {"a": 1}, headers={})
        assert violation is not None and violation.status == 401

    def test_unknown_route_is_404(self) -> None:
        violation = check("POST", "/api/v1/customers/42/nope", {"a": 1})
        assert violation is not None and violation.status == 404

    def test_oversized_attribute_value_is_400(self) -> None:
        big = "x" * (contract.MAX_ATTRIBUTE_VALUE_BYTES + 1)
        violation = check("PUT", "/api/v1/customers/42", {"note": big})
        assert violation is not None and violation.status == 400 and "note" in violation.reason

    def test_too_many_attributes_is_400(self) -> None:
        attrs = {f"a{i}": i for i in range(contract.MAX_ATTRIBUTES + 1)}
        assert check("PUT", "/api/v1/customers/42", attrs) is not None

    def test_long_identifier_counts_bytes(self) -> None:
        ident = "é" * 76  # 152 bytes, 76 characters
        assert check("PUT", f"/api/v1/customers/{ident}", {"a": 1}) is not None

    def test_sizes_are_compact_utf8_json(self) -> None:
        for value in ({"a": [1, 2.5, "é"], "b": None}, {1: "x"}, 2**70, True, "ü" * 3):
            expected = value if isinstance(value, str) else json.dumps(
                value, separators=(",", ":"), ensure_ascii=False
            )
            assert contract.byte_len(value) == len(expected.encode())

    def test_event_needs_name(self) -> None:
        violation = check("POST", "/api/v1/customers/42/events", {"data": {}})
        assert violation is not None and violation.status == 400

    def test_merge_needs_single_identifiers(self) -> None:
        body = {"primary": {"id": "1", "email": "a@x.io"}, "secondary": {"id": "2"}}
        assert check("POST", "/api/v1/merge_customers", body) is not None


class TestTrackV2:
    """v2 entity and batch shapes and size limits."""

    def test_entity_accepted(self) -> None:
        entity = {
            "type": "person",
            "identifiers": {"id": "42"},
            "action": "identify",
            "attributes": {"open_tickets": 1},
        }
        assert check("POST", "/api/v2/entity", entity) is None

    def test_entity_over_32kb_is_413(self) -> None:
        entity = {
            "type": "person",
            "identifiers": {"id": "42"},
            "action": "identify",
            "attributes": {f"k{i}": "v" * 900 for i in range(40)},
        }
        violation = check("POST", "/api/v2/entity", entity)
        assert violation is not None and violation.status == 413

    def test_batch_item_errors_name_the_index(self) -> None:
        batch = {
            "batch": [
                {"type": "person", "identifiers": {"id": "1"}, "action": "identify"},
                {"type": "person", "identifiers": {}, "action": "identify"},
            ]
        }
        violation = check("POST", "/api/v2/batch", batch)
        assert violation is not None and "batch[1]" in violation.reason

    def test_unknown_action_is_400(self) -> None:
        entity = {"type": "person", "identifiers": {"id": "1"}, "action": "explode"}
        assert check("POST", "/api/v2/entity", entity) is not None


class TestAppApi:
    """App API uses bearer auth with the app key."""

    def test_trigger_with_bearer_accepted(self) -> None:
        headers = {"Authorization": "Bearer test-app-key"}
        assert check("POST", "/v1/campaigns/7/triggers", {"data": {}}, headers=headers) is None

    def test_trigger_with_track_auth_is_401(self) -> None:
        violation = check("POST", "/v1/campaigns/7/triggers", {"data": {}})
        assert violation is not None and violation.status == 401
