"""Fake vendor servers that validate every request against the vendors' contracts."""

from connectors.testing.fakes.base import Call, FakeFactory, FakeServer, Rejection
from connectors.testing.fakes.customerio import FakeCustomerIO, Person
from connectors.testing.fakes.faults import Fault, Faults, RateDecision, RateLimit
from connectors.testing.fakes.intercom import FakeIntercom
from connectors.testing.fakes.openapi import OpenAPIFake
from connectors.testing.fakes.recording import (
    ContractViolationError,
    RecordedRequest,
    Violation,
    max_in_window,
)
from connectors.testing.fakes.zendesk import FakeZendesk

__all__ = [
    "Call",
    "ContractViolationError",
    "Fault",
    "FakeCustomerIO",
    "FakeFactory",
    "FakeIntercom",
    "FakeServer",
    "FakeZendesk",
    "Faults",
    "OpenAPIFake",
    "Person",
    "RateDecision",
    "RateLimit",
    "RecordedRequest",
    "Rejection",
    "Violation",
    "max_in_window",
]
