"""Dead letters written by the stream stages (bad input never blocks a partition)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from contracts.records import now_ts


class StageDeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str  # normalize | identity | apply | route
    reason: str
    source: str | None = None
    detail: str = ""
    record: dict[str, Any] = Field(default_factory=dict)
    at: float = Field(default_factory=now_ts)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))
