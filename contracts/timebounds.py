"""The range of times supportsync accepts from the outside world.

A platform sends times as unix seconds or ISO 8601 strings; values such as `1e300`, NaN, a
negative number or `9999-12-31T23:59:59-14:00` parse (or nearly) but overflow the moment they
are converted to UTC or a cooldown is added to them. Normalizers check every time they read
here and reject the envelope as malformed, so an out-of-range value ends in a dead letter
instead of an `OverflowError` deep in the stream.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

#: Earliest and latest accepted instant: far enough from datetime's limits that adding any
#: configured window (days to years) never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_EARLIEST_TS = EARLIEST.timestamp()
_LATEST_TS = LATEST.timestamp()


class TimeOutOfRange(ValueError):
    """A time outside [EARLIEST, LATEST), or not a number: the body is malformed."""


def from_unix(value: float, field: str = "time") -> datetime:
    """Unix seconds as an aware UTC datetime, or TimeOutOfRange."""
    number = float(value)
    if not math.isfinite(number) or not _EARLIEST_TS <= number < _LATEST_TS:
        raise TimeOutOfRange(f"{field}: unix time {value!r} outside 1970..2200")
    return datetime.fromtimestamp(number, UTC)


def bounded(moment: datetime, field: str = "time") -> datetime:
    """`moment` in UTC (naive counts as UTC), or TimeOutOfRange."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise TimeOutOfRange(f"{field}: {moment.isoformat()} outside 1970..2200") from exc
    if not EARLIEST <= utc < LATEST:
        raise TimeOutOfRange(f"{field}: {moment.isoformat()} outside 1970..2200")
    return utc


def parse_iso(value: str, field: str = "time") -> datetime | None:
    """An ISO 8601 string as a UTC datetime; None when it is not a time at all (callers fall
    back to another field); TimeOutOfRange when it is one, outside the accepted range."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return bounded(parsed, field)
