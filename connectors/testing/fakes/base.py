"""``FakeServer``: an aiohttp app on a free loopback port that records, validates and misbehaves.

Request pipeline (order matters): validate against the contract (a failure is answered with
the vendor's status and recorded as a violation, so no contract breach is ever hidden behind
an injected fault) -> rate limit -> injected fault -> the fake's handler for the route.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from aiohttp import web
from multidict import MultiMapping

from connectors.testing.fakes.faults import Faults, RateDecision, RateLimit
from connectors.testing.fakes.recording import (
    ContractViolationError,
    RecordedRequest,
    Violation,
    max_in_window,
)

log = logging.getLogger(__name__)
_RESET = web.Response(status=599)  # sentinel: the connection was dropped on purpose


class Rejection(Exception):
    """Raised (or returned by ``validate``) to refuse a request with a vendor-style error."""

    def __init__(
        self, status: int, reason: str, *, body: Any = None, violation: bool = True
    ) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        self.body = body
        self.violation = violation  # False for believable refusals such as a 409 duplicate


@dataclass
class Call:
    """What a route handler receives."""

    request: web.Request
    params: dict[str, str]
    query: MultiMapping[str]
    body: bytes
    json: Any


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
F = TypeVar("F", bound="FakeServer")
# what the pytest fixtures hand out: ``fake = await fake_zendesk(**constructor_kwargs)``
FakeFactory = Callable[..., Awaitable[F]]


class FakeServer:
    """Base class of every fake platform; subclasses add routes and a ``validate`` hook."""

    name: ClassVar[str] = "fake"

    def __init__(
        self,
        *,
        rate_limit: RateLimit | None = None,
        host: str = "127.0.0.1",
        stop_timeout: float = 2.0,
        check_on_exit: bool = True,
    ) -> None:
        self.rate_limit = rate_limit
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.check_on_exit = check_on_exit
        self._host = host
        self._stop_timeout = stop_timeout
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``; only valid while running."""
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Bind a free port and serve."""
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=self._stop_timeout, handle_signals=False
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        server = site._server  # aiohttp exposes no public accessor for the bound port
        assert isinstance(server, asyncio.base_events.Server)
        self._port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving; in-flight slow responses are cut off after ``stop_timeout``."""
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                await asyncio.wait_for(runner.cleanup(), self._stop_timeout + 1.0)
            except TimeoutError:
                log.warning("%s did not stop within %.1fs", self.name, self._stop_timeout)
        self._port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        if self.check_on_exit and exc_type is None:
            self.assert_no_violations()

    # -- assertions and queries ------------------------------------------------------------
    def assert_no_violations(self) -> None:
        """Fail (AssertionError) if any request broke the vendor contract."""
        if self.violations:
            raise ContractViolationError(self.name, self.violations)

    def take_violations(self) -> list[Violation]:
        """Return and forget the recorded violations (for tests that provoke them)."""
        taken, self.violations = self.violations, []
        return taken

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests whose method matches and whose path matches the regex fully."""
        pattern = re.compile(path_regex)
        return [
            r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path)
        ]

    def max_rate(self, window: float = 1.0, path_regex: str | None = None) -> int:
        """Most requests seen within any ``window`` seconds (optionally for one path)."""
        pattern = re.compile(path_regex) if path_regex else None
        stamps = [
            r.timestamp for r in self.requests if pattern is None or pattern.fullmatch(r.path)
        ]
        return max_in_window(stamps, window)

    # -- subclass hooks --------------------------------------------------------------------
    def route(self, method: str, template: str, handler: Handler) -> None:
        """Serve ``METHOD /path/{param}`` with ``handler`` (method ``*`` matches any)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append((method.upper(), re.compile(f"^{regex}$"), handler))

    async def validate(self, request: web.Request, body: bytes) -> Rejection | None:
        """Check the request against the vendor contract; None when it is acceptable."""
        return None

    def error_body(self, status: int, reason: str) -> Any:
        """The JSON body the vendor sends with an error status."""
        return {"error": reason}

    def rate_limit_headers(self, decision: RateDecision) -> dict[str, str]:
        """Headers the vendor adds to describe its rate limit."""
        return {}

    # -- pipeline --------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived, wall = time.monotonic(), time.time()
        body = await request.read()
        parsed = _lenient_json(body)
        response = await self._respond(request, body, parsed)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query={k: request.query.getall(k) for k in request.query},
                headers=dict(request.headers),
                body=body,
                json=parsed,
                timestamp=arrived,
                wall_time=wall,
                status=None if response is None else response.status,
            )
        )
        if response is None:
            # reset: the transport is closed; aiohttp needs a response object it cannot send
            return web.Response(status=599)
        return response

    async def _respond(
        self, request: web.Request, body: bytes, parsed: Any
    ) -> web.StreamResponse | None:
        rejection = await self.validate(request, body)
        if rejection is not None:
            return self._reject(request, rejection)
        decision = self.rate_limit.check() if self.rate_limit else None
        if decision is not None and not decision.allowed:
            headers = self.rate_limit_headers(decision)
            headers["Retry-After"] = str(max(1, math.ceil(decision.reset_in)))
            return web.json_response(
                self.error_body(429, "rate limit exceeded"), status=429, headers=headers
            )
        response = await self._apply_fault(request)
        if response is _RESET:
            return None
        if response is None:
            response = await self._dispatch(request, body, parsed)
        if decision is not None:
            response.headers.update(self.rate_limit_headers(decision))
        return response

    async def _apply_fault(self, request: web.Request) -> web.StreamResponse | None:
        """An injected response, ``_RESET`` after dropping the connection, or None."""
        fault = self.faults.next_for(request.method, request.path)
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            if request.transport is not None:
                request.transport.abort()  # drop the connection without a status line
            return _RESET
        if fault.status is None:
            return None  # a slow but otherwise normal response
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = _fmt_seconds(fault.retry_after)
        return web.json_response(
            self.error_body(fault.status, "injected fault"), status=fault.status, headers=headers
        )

    async def _dispatch(self, request: web.Request, body: bytes, parsed: Any) -> web.StreamResponse:
        for method, pattern, handler in self._routes:
            found = pattern.match(request.path)
            if found and method in ("*", request.method):
                call = Call(request, found.groupdict(), request.query, body, parsed)
                try:
                    return await handler(call)
                except Rejection as rejection:
                    return self._reject(request, rejection)
                except Exception as exc:  # a bug in the fake must fail the test, not hang it
                    log.exception("%s handler crashed", self.name)
                    return self._reject(request, Rejection(500, f"fake handler crashed: {exc!r}"))
        # the contract allowed it but this fake cannot simulate it: fail loudly, never pretend
        return self._reject(request, Rejection(501, "route valid but not implemented by the fake"))

    def _reject(self, request: web.Request, rejection: Rejection) -> web.Response:
        if rejection.violation:
            self.violations.append(
                Violation(request.method, request.path, rejection.status, rejection.reason)
            )
        body = rejection.body
        if body is None:
            body = self.error_body(rejection.status, rejection.reason)
        return web.json_response(body, status=rejection.status)


def _lenient_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None  # validation reports the bad body; recording keeps the raw bytes


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
