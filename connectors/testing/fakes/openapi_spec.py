"""Load a vendor OpenAPI file once per process, repairing its known defects in memory.

The vendor files are 0.9-1.2 MB of YAML; parsing dominates (libyaml's CSafeLoader when
available). The files are never edited: see /work/shared/specs/README.md for the defects.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SPECS_DIR_ENV = "SUPPORTSYNC_VENDOR_SPECS"
# `../shared/specs` beside the repository (how CI lays it out), else the workplace's copy.
_BESIDE_REPO = Path(__file__).resolve().parents[3].parent / "shared" / "specs"
DEFAULT_SPECS_DIR = str(_BESIDE_REPO if _BESIDE_REPO.is_dir() else Path("/work/shared/specs"))
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

Patch = Callable[[dict[str, Any]], list[str]]

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LoadedSpec:
    """A parsed, repaired spec with its openapi-core validator and load timings (seconds)."""

    path: Path
    data: dict[str, Any]
    openapi: Any  # openapi_core.OpenAPI, typed loosely: openapi-core is a dev dependency
    fixes: tuple[str, ...]
    parse_seconds: float
    build_seconds: float


_raw_cache: dict[Path, tuple[dict[str, Any], float]] = {}
_cache: dict[tuple[Path, str], LoadedSpec] = {}
_lock = threading.Lock()


def spec_path(relative: str) -> Path:
    """Locate a vendor spec under $SUPPORTSYNC_VENDOR_SPECS (default /work/shared/specs)."""
    base = Path(os.environ.get(SPECS_DIR_ENV, DEFAULT_SPECS_DIR))
    path = base / relative
    if not path.is_file():
        raise FileNotFoundError(f"vendor spec {path} not found; set ${SPECS_DIR_ENV}")
    return path


def _resolve(data: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = data
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def fix_path_parameters(data: dict[str, Any]) -> list[str]:
    """Reconcile declared path parameters with each path template; return what changed.

    Repairs both known defect kinds generically: path parameters the template lacks are
    dropped (Zendesk, 11 cases) and template variables declared ``in: query`` become path
    parameters (Intercom ``job_identifier``). Shared $ref'd parameters are never mutated.
    """
    fixes: list[str] = []
    for path, item in data.get("paths", {}).items():
        template_vars = set(re.findall(r"\{([^}]+)\}", path))
        shared = [_resolve(data, p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            kept: list[Any] = []
            declared = {p["name"] for p in shared if p.get("in") == "path"}
            for raw in operation.get("parameters", []):
                param = _resolve(data, raw)
                name, where = param.get("name"), param.get("in")
                if where == "path" and name not in template_vars:
                    fixes.append(f"{method.upper()} {path}: dropped path parameter {name!r}")
                    continue
                if where != "path" and name in template_vars and name not in declared:
                    param = {**param, "in": "path", "required": True}
                    fixes.append(f"{method.upper()} {path}: {name!r} moved from {where} to path")
                    raw = param
                if param.get("in") == "path":
                    declared.add(name)
                kept.append(raw)
            if "parameters" in operation:
                operation["parameters"] = kept
        if "parameters" in item:
            kept_shared = []
            for raw in item["parameters"]:
                param = _resolve(data, raw)
                if param.get("in") == "path" and param.get("name") not in template_vars:
                    fixes.append(f"{path}: dropped shared path parameter {param.get('name')!r}")
                    continue
                kept_shared.append(raw)
            item["parameters"] = kept_shared
    return fixes


def _parse(path: Path) -> tuple[dict[str, Any], float]:
    cached = _raw_cache.get(path)
    if cached is None:
        started = time.perf_counter()
        with path.open("rb") as handle:
            data = yaml.load(handle, Loader=_LOADER)  # noqa: S506 - Safe(C)Loader only
        cached = _raw_cache[path] = (data, time.perf_counter() - started)
    return cached


def load_spec(path: Path, patch: Patch | None = None, patch_key: str = "") -> LoadedSpec:
    """Parse (cached per process), repair, optionally patch, and wrap in openapi-core.

    ``patch`` documents deliberate deviations of a fake from the letter of the spec (where
    the real API is known to accept more); ``patch_key`` names it for the cache.
    """
    from openapi_core import Config, OpenAPI  # lazy: openapi-core is a dev dependency

    key = (path.resolve(), patch_key)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        raw, parse_seconds = _parse(key[0])
        started = time.perf_counter()
        data = copy.deepcopy(raw)  # per-patch copy: patches mutate
        fixes = fix_path_parameters(data)
        if patch is not None:
            fixes += patch(data)
        # the full spec check costs ~1 s per file; tests run it once, explicitly
        api = OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))
        loaded = LoadedSpec(
            key[0], data, api, tuple(fixes), parse_seconds, time.perf_counter() - started
        )
        _cache[key] = loaded
        return loaded
