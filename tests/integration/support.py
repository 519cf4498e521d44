"""Helpers for broker-backed tests: signed webhook posting and waiting on fakes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

ZENDESK_SECRET = "zendesk-test-secret"
CIO_SITE, CIO_KEY = "site-1", "key-1"

T = TypeVar("T")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, orjson.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"{}")


def zendesk_headers(body: bytes, secret: str = ZENDESK_SECRET) -> dict[str, str]:
    ts = iso(datetime.now(UTC))
    mac = hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": ts,
    }


def trigger_body(
    ticket_id: str,
    status: str,
    updated: datetime,
    email: str,
    *,
    priority: str = "normal",
    tags: str = "",
    event_suffix: str = "",
) -> bytes:
    """A body rendered from the recommended Zendesk trigger template."""
    return orjson.dumps(
        {
            "supportsync": "zendesk-trigger/v1",
            "event_id": f"{ticket_id}:{iso(updated)}:{status}{event_suffix}",
            "ticket": {
                "id": ticket_id,
                "status": status,
                "priority": priority,
                "tags": tags,
                "created_at": iso(updated),
                "updated_at": iso(updated),
            },
            "requester": {"id": "", "email": email},
        }
    )


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def worker_env(cio_url: str) -> dict[str, str]:
    return {
        "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
        "SUPPORTSYNC_CUSTOMERIO_TRACK_URL": cio_url,
        "SUPPORTSYNC_CUSTOMERIO_SITE_ID": CIO_SITE,
        "SUPPORTSYNC_CUSTOMERIO_API_KEY": CIO_KEY,
    }


def state_of(port: int, identifier: str) -> dict[str, Any] | None:
    """A worker's explain view (GET /state/{identifier}); None while it has no such state
    or another worker owns the customer (404)."""
    url = f"http://127.0.0.1:{port}/state/{quote(identifier, safe='')}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc: dict[str, Any] = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return doc


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`supportsync <args>` as a user runs it, with `env` (bounded: 180 s)."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )
