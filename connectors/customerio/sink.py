"""Customer.io Track API sink (SPEC S6 "Customer.io contracts").

identify  → PUT  /api/v1/customers/{id}          body: the attributes
event     → POST /api/v1/customers/{id}/events   body: name, data, timestamp
suppress  → POST /api/v1/customers/{id}/suppress
unsuppress→ POST /api/v1/customers/{id}/unsuppress

Limits are checked before sending (connectors/customerio/contract.py is the one encoding of
the contract): an action the API would reject goes to the dlq without a request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from connectors.customerio import contract
from connectors.delivery.actions import Action
from connectors.delivery.errors import ClientError
from connectors.delivery.http import HttpClient
from connectors.delivery.sink import Sink


class InvalidForCustomerIO(ClientError):
    """The action breaks a documented Track API limit; sending it would get a 400."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason.encode(), f"not sent: {reason}")


def _customer_path(person: str, suffix: str = "") -> str:
    return f"/api/v1/customers/{quote(person, safe='')}{suffix}"


class CustomerIOSink(Sink):
    name = "customerio"

    def __init__(self, *, client: HttpClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _check(self, action: Action) -> None:
        try:
            contract.check_identifier(action.person)
            if action.operation == "identify":
                contract.check_attributes(action.attributes)
            elif action.operation == "event":
                contract.check_event(action.payload.get("name"), action.payload.get("data"))
        except contract.ContractViolation as exc:
            raise InvalidForCustomerIO(str(exc)) from exc

    async def send(self, action: Action) -> None:
        self._check(action)
        op = action.operation
        if op == "identify":
            await self.client.put(_customer_path(action.person), json=action.attributes)
        elif op == "event":
            body: dict[str, Any] = {"name": action.payload["name"]}
            if action.payload.get("data"):
                body["data"] = action.payload["data"]
            if action.payload.get("timestamp"):
                body["timestamp"] = action.payload["timestamp"]
            await self.client.post(_customer_path(action.person, "/events"), json=body)
        elif op in ("suppress", "unsuppress"):
            await self.client.post(_customer_path(action.person, f"/{op}"))
        else:
            raise InvalidForCustomerIO(f"unknown operation {op!r}")
