"""Intercom conversation search by `updated_at` (SPEC S2.2 backfill).

    POST /conversations/search
    {"query": {"field": "updated_at", "operator": ">", "value": <unix>},
     "sort": {"field": "updated_at", "order": "ascending"},
     "pagination": {"per_page": 150, "starting_after": <pages.next.starting_after>}}

Pages come oldest update first; `pages.next.starting_after` continues one search. A
backfill resumes a later search from a watermark (the last `updated_at` it finished, minus
one second, skipping the ids it already wrote at that second), because Intercom's
`starting_after` belongs to one search. Requests take a bucket token (Intercom limits are
per app, in 10-second windows) and are retried on 429 (Retry-After), 5xx and transport
errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.delivery.http import HttpClient
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy, call_with_retry

SEARCH_PATH = "/conversations/search"


@dataclass(frozen=True)
class SearchPage:
    conversations: list[dict[str, Any]]
    next_starting_after: str | None
    total_count: int | None


class ConversationSearch:
    def __init__(
        self,
        http: HttpClient,
        *,
        bucket: TokenBucket | None = None,
        policy: RetryPolicy | None = None,
        per_page: int = 150,
    ) -> None:
        self.http = http
        self.bucket = bucket
        self.policy = policy or RetryPolicy(deadline=300.0, max_retry_after=600.0)
        self.per_page = per_page

    async def page(self, updated_after: int, starting_after: str | None = None) -> SearchPage:
        pagination: dict[str, Any] = {"per_page": self.per_page}
        if starting_after is not None:
            pagination["starting_after"] = starting_after
        body = {
            "query": {"field": "updated_at", "operator": ">", "value": updated_after},
            "sort": {"field": "updated_at", "order": "ascending"},
            "pagination": pagination,
        }

        async def attempt() -> Any:
            if self.bucket is not None:
                await self.bucket.acquire("analytics")
            return (await self.http.post(SEARCH_PATH, json=body)).json()

        doc = await call_with_retry(attempt, self.policy)
        nxt = (doc.get("pages") or {}).get("next") or {}
        after = nxt.get("starting_after") if isinstance(nxt, dict) else None
        total = doc.get("total_count")
        return SearchPage(
            conversations=[c for c in doc.get("conversations") or [] if isinstance(c, dict)],
            next_starting_after=str(after) if after else None,
            total_count=int(total) if isinstance(total, int) else None,
        )
