"""Building pydantic models from values that are already valid, without validation.

The state machine builds ~10 models per event from inputs that were validated once (the
event, the previous state). Pydantic's `model_construct`/`model_copy` are generic and cost
several µs each; these helpers set exactly what they set (`__dict__`, the fields-set, no
extra, no private attributes) and nothing else. Callers pass *every* field, already of
the declared type: nothing is checked here.

The fields-set of a model built here is its class's set of every field, one set shared by
all of them (building a set per model is a measurable share of the cost). That is safe
because these models are frozen: pydantic only changes a fields-set after copying it
(`model_copy`), and nothing in supportsync uses `exclude_unset`.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__


_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def _all_fields(cls: type[BaseModel]) -> set[str]:
    fields = _ALL_FIELDS.get(cls)
    if fields is None:
        fields = _ALL_FIELDS[cls] = set(cls.model_fields)
    return fields


def construct(cls: type[M], values: dict[str, Any]) -> M:
    """A `cls` holding `values` (all of its fields, valid), like `model_construct`."""
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    fields = _ALL_FIELDS.get(cls)
    _set(model, "__pydantic_fields_set__", fields if fields is not None else _all_fields(cls))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def replace(model: M, update: dict[str, Any]) -> M:
    """`model.model_copy(update=update)` for valid values, at a fraction of the cost."""
    cls = type(model)
    copied = cls.__new__(cls)
    values = model.__dict__.copy()
    values.update(update)
    _set(copied, "__dict__", values)
    fields = _ALL_FIELDS.get(cls)
    _set(copied, "__pydantic_fields_set__", fields if fields is not None else _all_fields(cls))
    _set(copied, "__pydantic_extra__", None)
    _set(copied, "__pydantic_private__", None)
    return copied


# orjson writes datetimes, tuples, enums and str subclasses the way pydantic's JSON mode does
# (UTC as "Z"); anything else it cannot write goes through pydantic (`json_default`). So
# `orjson.dumps(values, default=json_default, option=JSON_OPTIONS)` of a model's field values
# gives the bytes of `orjson.dumps(model.model_dump(mode="json"))`, several times faster.
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def json_default(value: Any) -> Any:
    return to_jsonable_python(value)

