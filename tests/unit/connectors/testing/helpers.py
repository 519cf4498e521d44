"""Shared client helpers for the fake-server tests."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

ZD_AUTH = {
    "Authorization": "Basic " + base64.b64encode(b"agent@example.com/token:test-token").decode()
}
IC_AUTH = {"Authorization": "Bearer test-token", "Intercom-Version": "2.14"}
CIO_AUTH = {"Authorization": "Basic " + base64.b64encode(b"test-site:test-key").decode()}


async def send(
    method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    """One request on a fresh session: (status, headers, parsed JSON or None)."""
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, headers=headers, **kwargs) as response:
            text = await response.text()
            body = await response.json(content_type=None) if text else None
            return response.status, dict(response.headers), body
