"""PostgreSQL warehouse sink (SPEC S5 R16, R18): `support_state_changed` and
`support_report` rows, idempotent.

Setting: `SUPPORTSYNC_WAREHOUSE_DSN` (asyncpg DSN); `SUPPORTSYNC_WAREHOUSE_SCHEMA` (default
`supportsync`). The schema below is created when the sink first connects (`SCHEMA_SQL`,
idempotent) and is the stable, documented contract for analysts:

    support_state_changed
      transition_id     text PRIMARY KEY   deterministic id of the transition (dedupe key)
      action_id         text NOT NULL      the delivering action's id
      customer_key      text NOT NULL      supportsync's customer key
      old_state         text               clear | open | escalated | cooldown | recovery
      new_state         text
      reason            text               why the state changed
      causing_event_id  text               platform event that caused it
      occurred_at       timestamptz        platform time of the change
      identities        jsonb              identifiers, only as consent allows
      attributes        jsonb              exported attributes after the change
      holdout           boolean            customer is in the measurement holdout
      inserted_at       timestamptz        when the row was written

    support_report    (R18: one row per ticket/conversation opened or resolved, or rating;
                       no identifiers)
      transition_id     text PRIMARY KEY
      action_id         text NOT NULL
      customer_key      text NOT NULL
      event             text NOT NULL      ticket_opened | ticket_resolved | csat
      source            text               zendesk | intercom
      ticket_id         text
      priority          text
      reason            text
      resolution_seconds bigint            for ticket_resolved
      score             text               for csat (good/bad or 1-5, as text)
      scale             text               good_bad | one_to_five
      low               boolean
      occurred_at       timestamptz
      inserted_at       timestamptz

Rows are written with `INSERT ... ON CONFLICT (transition_id) DO NOTHING`: a retry, a replay
or a redelivery after a crash never duplicates or rewrites a row. Operations:
`support_state_changed` and `support_report`, payload keys as the columns (transition_id
defaults to the action id). Bursts are written with one `executemany` in a transaction per
chunk (one table per chunk); a chunk that fails on bad data falls back to row-by-row so
only the bad rows reach the dlq.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import asyncpg
import orjson

from connectors.delivery.batching import BatchingSink, BatchResult
from connectors.delivery.errors import ClientError, DeliveryError, ServerError, TransportError
from contracts.actions import Action

TABLE = "support_state_changed"
SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.support_state_changed (
    transition_id     text PRIMARY KEY,
    action_id         text NOT NULL,
    customer_key      text NOT NULL,
    old_state         text,
    new_state         text,
    reason            text,
    causing_event_id  text,
    occurred_at       timestamptz,
    identities        jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    attributes        jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    holdout           boolean,
    inserted_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS support_state_changed_customer
    ON {schema}.support_state_changed (customer_key, occurred_at);
CREATE TABLE IF NOT EXISTS {schema}.support_report (
    transition_id      text PRIMARY KEY,
    action_id          text NOT NULL,
    customer_key       text NOT NULL,
    event              text NOT NULL,
    source             text,
    ticket_id          text,
    priority           text,
    reason             text,
    resolution_seconds bigint,
    score              text,
    scale              text,
    low                boolean,
    occurred_at        timestamptz,
    inserted_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS support_report_event
    ON {schema}.support_report (event, occurred_at);
"""
REPORT = "support_report"
REPORT_SQL = """
INSERT INTO {schema}.support_report
    (transition_id, action_id, customer_key, event, source, ticket_id, priority, reason,
     resolution_seconds, score, scale, low, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (transition_id) DO NOTHING
"""
INSERT_SQL = """
INSERT INTO {schema}.support_state_changed
    (transition_id, action_id, customer_key, old_state, new_state, reason,
     causing_event_id, occurred_at, identities, attributes, holdout)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11)
ON CONFLICT (transition_id) DO NOTHING
"""
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
Row = tuple[Any, ...]


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def report_row(action: Action) -> Row:
    p = action.payload
    try:
        occurred = _when(p.get("occurred_at"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise ClientError(400, str(exc), "warehouse: bad occurred_at") from exc
    if not p.get("event"):
        raise ClientError(400, None, "warehouse: support_report needs an event")
    seconds, low = p.get("resolution_seconds"), p.get("low")
    return (
        str(p.get("transition_id") or action.action_id),
        action.action_id,
        action.customer_key,
        str(p["event"]),
        _text(p.get("source")),
        _text(p.get("ticket_id")),
        _text(p.get("priority")),
        _text(p.get("reason")),
        seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None,
        _text(p.get("score")),
        _text(p.get("scale")),
        low if isinstance(low, bool) else None,
        occurred,
    )


def row_for(action: Action) -> Row:
    p = action.payload
    if action.operation == REPORT:
        return report_row(action)
    if action.operation != TABLE:
        raise ClientError(400, None, f"warehouse: unknown operation {action.operation!r}")
    try:
        occurred = _when(p.get("occurred_at"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise ClientError(400, str(exc), "warehouse: bad occurred_at") from exc
    holdout = p.get("holdout")
    return (
        str(p.get("transition_id") or action.action_id),
        action.action_id,
        action.customer_key,
        _text(p.get("old_state")),
        _text(p.get("new_state")),
        _text(p.get("reason")),
        _text(p.get("causing_event_id") or action.causing_event_id),
        occurred,
        orjson.dumps(p.get("identities") or {}).decode(),
        orjson.dumps(p.get("attributes") or {}).decode(),
        holdout if isinstance(holdout, bool) else None,
    )


def classify(exc: BaseException) -> DeliveryError:
    """asyncpg/OS failures -> the delivery error tree (bad data is not retried)."""
    if isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError):
        return ClientError(400, str(exc), f"warehouse rejected the row: {type(exc).__name__}")
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError):
        return TransportError(f"warehouse connection: {type(exc).__name__}")
    if isinstance(exc, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return TransportError(f"warehouse unavailable: {type(exc).__name__}")
    return ServerError(500, f"warehouse error: {type(exc).__name__}", body=str(exc))


class WarehouseSink(BatchingSink):
    name = "warehouse"
    max_batch: ClassVar[int] = 500

    def __init__(
        self, *, dsn: str, schema: str = "supportsync", pool_size: int = 4, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not _IDENTIFIER.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.schema = schema
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        """Connect and create the schema on first use."""
        async with self._lock:
            if self._pool is None:
                try:
                    pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._pool_size
                    )
                    async with pool.acquire() as conn:
                        await conn.execute(SCHEMA_SQL.format(schema=self.schema))
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    raise classify(exc) from exc
                self._pool = pool
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _sql(self, operation: str) -> str:
        return (REPORT_SQL if operation == REPORT else INSERT_SQL).format(schema=self.schema)

    async def send(self, action: Action) -> None:
        row = row_for(action)
        pool = await self.pool()
        try:
            await pool.execute(self._sql(action.operation), *row)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise classify(exc) from exc

    def batch_key(self, action: Action) -> str | None:
        return f"rows:{action.operation}" if action.operation in (TABLE, REPORT) else None

    async def send_batch(self, actions: list[Action]) -> BatchResult:
        results: BatchResult = [None] * len(actions)
        rows: list[tuple[int, Row]] = []
        for index, action in enumerate(actions):
            try:
                rows.append((index, row_for(action)))
            except ClientError as exc:
                results[index] = exc
        pool = await self.pool()
        sql = self._sql(actions[0].operation)  # one batch key per operation
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.executemany(sql, [r for _, r in rows])
            return results
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
            pass  # one bad row: find it row by row below
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise classify(exc) from exc
        for index, row in rows:
            try:
                await pool.execute(sql, *row)
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                results[index] = classify(exc)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise classify(exc) from exc
        return results
