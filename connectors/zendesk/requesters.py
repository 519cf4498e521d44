"""Who a Zendesk requester is, for event-subscribed ticket events (SPEC S3 identity).

Zendesk's ticket events name the requester only by `requester_id`. Most requesters' user
events happened long before supportsync was installed, so without a lookup their tickets
would belong to a customer nobody can address (no email for Customer.io). With Zendesk API
credentials, `RequesterDirectory.enrich` fills in the requester's email, external id and
phone from `GET /api/v2/users/{id}` before identity resolution:

- cached (LRU, `cache_size` users; a user Zendesk does not know is remembered as such for
  `negative_ttl_s`), so a requester costs one request per process lifetime;
- rate-limited by its own token bucket (a share of the account's API budget, so lookups
  never starve the Zendesk sink's writes), at most `concurrency` at a time, and bounded
  in time: one batch waits at most `timeout_s` for all its look-ups (going live can bring
  thousands of unknown requesters at once; ingest must not stall behind them). A failed,
  slow or postponed look-up leaves the event as it was (the apply stage then parks it
  until the identity arrives) and is not cached, so the requester's next event tries
  again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from connectors.delivery.errors import ClientError, DeliveryError
from connectors.delivery.http import HttpClient
from connectors.delivery.ratelimit import TokenBucket
from contracts.events import Identities, SupportEvent

log = logging.getLogger(__name__)

_UNKNOWN: dict[str, Any] = {}  # cached answer for a user Zendesk does not have


def needs_requester(event: SupportEvent) -> bool:
    """A Zendesk event that names its person only by Zendesk user id."""
    ids = event.identities
    return (
        event.source == "zendesk"
        and bool(ids.zendesk_user_id)
        and not ids.email
        and not ids.external_id
    )


class RequesterDirectory:
    def __init__(
        self,
        http: HttpClient,
        *,
        bucket: TokenBucket | None = None,
        cache_size: int = 50_000,
        negative_ttl_s: float = 300.0,
        timeout_s: float = 5.0,
        concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._bucket = bucket
        self._cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._negative_ttl = negative_ttl_s
        self._timeout = timeout_s
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self.lookups = 0  # requests made (for tests and the log)

    async def enrich(self, events: list[SupportEvent]) -> list[SupportEvent]:
        """The events, with each requester's email/external id/phone filled in where known."""
        wanted = {e.identities.zendesk_user_id for e in events if needs_requester(e)}
        if not wanted:
            return events
        ids = sorted(u for u in wanted if u)
        if not ids:
            return events
        tasks = [asyncio.ensure_future(self.user(uid)) for uid in ids]
        done, pending = await asyncio.wait(tasks, timeout=self._timeout)
        for task in pending:
            task.cancel()  # postponed: the event parks, the next one tries again
        users = {uid: task.result() for uid, task in zip(ids, tasks, strict=True) if task in done}
        out: list[SupportEvent] = []
        for event in events:
            uid = event.identities.zendesk_user_id
            user = users.get(uid) if uid and needs_requester(event) else None
            if not user:
                out.append(event)
                continue
            found = Identities(
                email=user.get("email") or None,
                external_id=user.get("external_id") or None,
                phone=user.get("phone") or None,
            )
            identities = event.identities.merged(found)
            out.append(event.replace(identities=identities))
        return out

    async def user(self, user_id: str) -> dict[str, Any] | None:
        """The Zendesk user (None: unknown to Zendesk, or the lookup failed)."""
        now = self._clock()
        cached = self._cache.get(user_id)
        if cached is not None:
            expires, user = cached
            if user is not _UNKNOWN or now < expires:
                self._cache.move_to_end(user_id)
                return user or None
        if not user_id.isdigit():
            return None  # not a Zendesk id: never put into a URL
        try:
            async with self._slots:
                user = await asyncio.wait_for(self._fetch(user_id), self._timeout)
        except ClientError as exc:
            if exc.status != 404:
                log.warning("zendesk requester lookup refused: %s", exc)
                return None
            user = _UNKNOWN
        except (DeliveryError, TimeoutError, ValueError) as exc:  # ValueError: not JSON
            log.warning("zendesk requester lookup failed: %s", type(exc).__name__)
            return None
        self._remember(user_id, user, now)
        return user or None

    async def _fetch(self, user_id: str) -> dict[str, Any]:
        if self._bucket is not None:
            await self._bucket.acquire("enrichment")
        self.lookups += 1
        doc = (await self._http.get(f"/api/v2/users/{user_id}")).json()
        user = doc.get("user") if isinstance(doc, dict) else None
        return user if isinstance(user, dict) and user else _UNKNOWN

    def _remember(self, user_id: str, user: dict[str, Any], now: float) -> None:
        self._cache[user_id] = (now + self._negative_ttl, user)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
