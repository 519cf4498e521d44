"""How values without a JSON form of their own are written on the topics.

orjson (with `JSON_OPTIONS`) and msgspec write datetimes, tuples, enums and str subclasses
the way pydantic's JSON mode does (UTC as "Z"); anything else they cannot write, such as a
pydantic model or a Decimal in a payload, goes through pydantic (`json_value`).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from pydantic_core import to_jsonable_python

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def json_value(value: Any) -> Any:
    return to_jsonable_python(value)


#: msgspec JSON for every topic record (payload values it cannot write go to `json_value`)
JSON_ENCODER = msgspec.json.Encoder(enc_hook=json_value)
