"""Dead letters for actions that could not be delivered (SPEC S6, S7 `dlq` commands).

The letter itself is the contract `SinkDeadLetter` (contracts/deadletters.py, here also
named `DeadLetter`); `dead_letter_from_error` builds one from what a delivery raised. Writers
are a Protocol: the Kafka `dlq` topic writer lives with the app; an in-memory one serves
tests and a JSON-lines one the embedded default.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Protocol

from connectors.delivery.errors import ClientError, Conflict, DeadlineExceeded, DeliveryError
from connectors.delivery.outbox import append_private
from contracts.actions import Action
from contracts.deadletters import SinkDeadLetter, SinkReason

MAX_DLQ_BODY_CHARS = 4096

DeadLetter = SinkDeadLetter
Reason = SinkReason


def dead_letter_from_error(
    error: BaseException,
    *,
    action: Action,
    covered: list[str] | None = None,
    attempts: int = 0,
    first_attempt_at: datetime | None = None,
    last_attempt_at: datetime | None = None,
    reason: Reason | None = None,
) -> DeadLetter:
    # For a spent deadline the interesting error is the last real one.
    cause = error.last_error if isinstance(error, DeadlineExceeded) else error
    status = cause.status if isinstance(cause, DeliveryError) else None
    body = cause.body if isinstance(cause, DeliveryError) else None
    if reason is None:
        reason = _reason_for(error)
    return DeadLetter(
        reason=reason,
        sink=action.sink,
        action=action,
        covered_action_ids=list(covered or [action.action_id]),
        error_class=type(cause).__name__,
        error_message=str(error)[:1000],
        status=status,
        response_body=body[:MAX_DLQ_BODY_CHARS] if body is not None else None,
        attempts=attempts,
        first_attempt_at=first_attempt_at,
        last_attempt_at=last_attempt_at,
    )


def _reason_for(error: BaseException) -> Reason:
    if isinstance(error, DeadlineExceeded):
        return "deadline_exceeded"
    if isinstance(error, Conflict):
        return "conflict"
    if isinstance(error, ClientError):
        return "client_error"
    return "unexpected_error"


class DeadLetterWriter(Protocol):
    async def write(self, dead_letter: DeadLetter) -> None: ...


class InMemoryDeadLetterWriter:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def write(self, dead_letter: DeadLetter) -> None:
        self.letters.append(dead_letter)


class FileDeadLetterWriter:
    """`<data_dir>/dlq/<sink>.jsonl`, one dead letter per line, fsynced (they are rare);
    owner-only (0600 in 0700), as they hold the actions' personal data."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir) / "dlq"
        self._lock = asyncio.Lock()

    async def write(self, dead_letter: DeadLetter) -> None:
        async with self._lock:
            await asyncio.to_thread(self._append, dead_letter.sink, dead_letter.to_json())

    def _append(self, sink: str, line: bytes) -> None:
        append_private(self.dir / f"{sink}.jsonl", line + b"\n", fsync=True)
