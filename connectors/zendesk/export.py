"""Zendesk incremental ticket export, cursor based (SPEC S2.2 backfill).

    GET /api/v2/incremental/tickets/cursor?start_time=<unix>&include=users   first page
    GET /api/v2/incremental/tickets/cursor?cursor=<after_cursor>             next pages
    GET /api/v2/users/{id}         a requester the page did not sideload (cached per run)

Each page: `tickets` (oldest update first), sideloaded `users`, `after_cursor`,
`end_of_stream`. The cursor is the resume point: a backfill stores it after the page's
records are on the raw topic. Every request takes a token from the account's bucket (the
same limits as the sink, Zendesk 200–2,500 requests/min by plan) and is retried on 429
(honouring Retry-After), 5xx and transport errors within the policy's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.delivery.errors import ClientError
from connectors.delivery.http import HttpClient
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy, call_with_retry

EXPORT_PATH = "/api/v2/incremental/tickets/cursor"


@dataclass(frozen=True)
class ExportPage:
    tickets: list[dict[str, Any]]
    after_cursor: str | None
    end_of_stream: bool
    users: dict[str, dict[str, Any]] = field(default_factory=dict)


class ZendeskExport:
    def __init__(
        self,
        http: HttpClient,
        *,
        bucket: TokenBucket | None = None,
        policy: RetryPolicy | None = None,
        per_page: int | None = None,
    ) -> None:
        self.http = http
        self.bucket = bucket
        self.policy = policy or RetryPolicy(deadline=300.0, max_retry_after=600.0)
        self.per_page = per_page
        self._users: dict[str, dict[str, Any] | None] = {}

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async def attempt() -> Any:
            if self.bucket is not None:
                await self.bucket.acquire("analytics")
            return (await self.http.get(path, params=params)).json()

        return await call_with_retry(attempt, self.policy)

    async def user(self, user_id: str) -> dict[str, Any] | None:
        """A user by id (None when Zendesk no longer has it); cached for the run."""
        if user_id not in self._users:
            try:
                doc = await self._get(f"/api/v2/users/{user_id}")
            except ClientError as exc:
                if exc.status != 404:
                    raise
                doc = None
            user = doc.get("user") if isinstance(doc, dict) else None
            self._users[user_id] = user if isinstance(user, dict) else None
        return self._users[user_id]

    async def page(self, *, start_time: int | None = None, cursor: str | None = None) -> ExportPage:
        if cursor is None and start_time is None:
            raise ValueError("start_time or cursor is required")
        params = {"cursor": cursor} if cursor is not None else {"start_time": str(start_time)}
        params["include"] = "users"
        if self.per_page is not None:
            params["per_page"] = str(self.per_page)

        doc = await self._get(EXPORT_PATH, params)
        users = {
            str(u["id"]): u for u in doc.get("users") or [] if isinstance(u, dict) and "id" in u
        }
        return ExportPage(
            tickets=[t for t in doc.get("tickets") or [] if isinstance(t, dict)],
            after_cursor=doc.get("after_cursor"),
            end_of_stream=bool(doc.get("end_of_stream")),
            users=users,
        )
