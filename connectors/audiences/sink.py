"""Ad-audience sink (SPEC S5 R17): add/remove batches of hashed emails.

Setting: `SUPPORTSYNC_AUDIENCES_URL` (and optionally `SUPPORTSYNC_AUDIENCES_TOKEN`, sent as
`Authorization: Bearer`). Operations `audience_add` and `audience_remove`; payload:

    audience     the audience name ("suppress_promos", "service_recovery", ...)
    ads_consent  true (or consent: {"ads": true}) -- REQUIRED to add: an `audience_add`
                 without ads consent is refused (dlq, `MissingAdsConsent`) and never
                 sent. Removals need none: withdrawing consent is what removes people.
    email        optional; defaults to `Action.person`

Request (one per audience and operation, up to `max_batch` members):

    POST <url>   {"audience": ..., "operation": "add" | "remove",
                  "schema": "EMAIL_SHA256", "members": ["<hex sha256>", ...]}

Emails are normalised (trimmed, lower-cased) and hashed with SHA-256 (hex) before they leave
the process, the format of the ad platforms' customer-match / custom-audience APIs; the
plain address is never sent.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from connectors.delivery.batching import BatchingSink, BatchResult
from connectors.delivery.errors import ClientError
from connectors.delivery.http import HttpClient
from contracts.actions import Action

OPERATIONS = {"audience_add": "add", "audience_remove": "remove"}
SCHEMA = "EMAIL_SHA256"


class MissingAdsConsent(ClientError):
    """Refused: the customer has not consented to ads use of their data."""

    def __init__(self) -> None:
        super().__init__(403, b"no ads consent", "not sent: no ads consent (R17)")


class InvalidForAudiences(ClientError):
    def __init__(self, reason: str) -> None:
        super().__init__(400, reason.encode(), f"not sent: {reason}")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_email(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def has_ads_consent(payload: dict[str, Any]) -> bool:
    consent = payload.get("consent")
    nested = consent.get("ads") if isinstance(consent, dict) else None
    return payload.get("ads_consent") is True or nested is True


def member(action: Action) -> tuple[str, str, str]:
    """(operation, audience, hashed email) or a refusal."""
    operation = OPERATIONS.get(action.operation)
    if operation is None:
        raise InvalidForAudiences(f"unknown operation {action.operation!r}")
    if operation == "add" and not has_ads_consent(action.payload):
        raise MissingAdsConsent()
    audience = action.payload.get("audience")
    email = str(action.payload.get("email") or action.person)
    if not audience or "@" not in email:
        raise InvalidForAudiences("audience and an email are required")
    return operation, str(audience), hash_email(email)


class AudiencesSink(BatchingSink):
    name = "audiences"
    max_batch: ClassVar[int] = 1000

    def __init__(self, *, client: HttpClient, url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.url = url

    async def _post(self, operation: str, audience: str, hashes: list[str]) -> None:
        body = {"audience": audience, "operation": operation, "schema": SCHEMA, "members": hashes}
        await self.client.post(self.url, json=body)

    async def send(self, action: Action) -> None:
        operation, audience, hashed = member(action)
        await self._post(operation, audience, [hashed])

    def batch_key(self, action: Action) -> str | None:
        operation = OPERATIONS.get(action.operation)
        audience = action.payload.get("audience")
        return f"{operation}\x1f{audience}" if operation and audience else None

    async def send_batch(self, actions: list[Action]) -> BatchResult:
        results: BatchResult = [None] * len(actions)
        hashes: list[str] = []
        target: tuple[str, str] | None = None
        for index, action in enumerate(actions):
            try:
                operation, audience, hashed = member(action)
            except ClientError as exc:
                results[index] = exc
                continue
            target = (operation, audience)
            if hashed not in hashes:
                hashes.append(hashed)
        if target is not None:
            await self._post(target[0], target[1], hashes)
        return results
