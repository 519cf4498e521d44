"""Thin HTTP client over an injected aiohttp session, mapping failures to DeliveryError.

The session is injected (httpx style) so tests and benchmarks point it anywhere, and one
connection pool serves every sink of a worker. Every response is shown to the account's
token bucket (`adapt`) before it is classified, so a 429 or an exhausted quota pauses all
traffic to that account, not only the request that saw it.

    2xx/3xx -> Response          429 -> RateLimited(retry_after)     409 -> Conflict
    408     -> TransportError    other 4xx -> ClientError(body)      5xx -> ServerError
    timeout / reset / refused / truncated body -> TransportError

Error messages name method, host and status only: paths and query strings can carry
emails, and headers carry credentials.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from connectors.delivery.clock import SYSTEM_CLOCK, Clock
from connectors.delivery.errors import (
    ClientError,
    Conflict,
    RateLimited,
    ServerError,
    TransportError,
)
from connectors.delivery.ratelimit import TokenBucket, parse_retry_after

BasicAuth = tuple[str, str]  # (login, password), e.g. Customer.io (site_id, api_key)


def basic_auth_header(auth: BasicAuth) -> str:
    # Built here rather than with aiohttp.BasicAuth, which aiohttp 3.14 deprecates.
    login, password = auth
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


@dataclass(frozen=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class HttpClient:
    """`request()` returns a 2xx/3xx Response or raises a classified DeliveryError."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = "",
        bucket: TokenBucket | None = None,
        headers: Mapping[str, str] | None = None,
        auth: BasicAuth | None = None,
        timeout: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._bucket = bucket
        self._headers = dict(headers or {})
        self._auth = auth
        self._timeout = timeout
        self._clock = clock

    def _url(self, url: str) -> str:
        if self._base_url and not url.startswith(("http://", "https://")):
            return f"{self._base_url}/{url.lstrip('/')}"
        return url

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: BasicAuth | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - handed to aiohttp, httpx style
    ) -> Response:
        full_url = self._url(url)
        where = f"{method} {URL(full_url).host}"  # never the path: it may hold an email
        merged = CIMultiDict(self._headers)
        basic = auth or self._auth
        if basic is not None:
            merged["Authorization"] = basic_auth_header(basic)
        merged.update(headers or {})
        if json is not None:
            data = orjson.dumps(json)
            merged.setdefault("Content-Type", "application/json")
        try:
            async with self._session.request(
                method,
                full_url,
                data=data,
                headers=merged,
                params=params,
                timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
            ) as resp:
                body = await resp.read()
                response = Response(resp.status, resp.headers, body)
        except TimeoutError as exc:  # aiohttp timeouts subclass asyncio.TimeoutError
            raise TransportError(f"{where}: timeout") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise TransportError(f"{where}: {type(exc).__name__}") from exc
        if self._bucket is not None:
            self._bucket.adapt(response.headers, response.status)
        return self._classify(response, where)

    def _classify(self, response: Response, where: str) -> Response:
        status = response.status
        if status < 400:
            return response
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.time())
            raise RateLimited(retry_after, f"{where}: 429", body=response.body)
        if status == 409:
            raise Conflict(response.body, f"{where}: 409")
        if status == 408:  # the server timed out waiting for us: a transport problem
            raise TransportError(f"{where}: 408", status=408, body=response.body)
        if status < 500:
            raise ClientError(status, response.body, f"{where}: {status}")
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.time())
        raise ServerError(status, f"{where}: {status}", body=response.body, retry_after=retry_after)

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PUT", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)
