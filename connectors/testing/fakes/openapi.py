"""``OpenAPIFake``: a FakeServer that validates every request with openapi-core."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web

from connectors.testing.fakes.base import FakeServer, Rejection
from connectors.testing.fakes.faults import RateLimit
from connectors.testing.fakes.openapi_spec import LoadedSpec, Patch, load_spec


class _SpecRequest:
    """The request shape openapi-core expects, presented as if sent to the vendor's host."""

    def __init__(self, request: web.Request, body: bytes, host_url: str) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = host_url
        self.path = request.path
        self.method = request.method.lower()
        self.body = body or None
        self.content_type = request.headers.get("Content-Type", "").lower()
        # werkzeug containers: openapi-core needs getlist(), which aiohttp's multidicts lack
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.query.items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(list(request.cookies.items())),
        )


def _describe(error: BaseException) -> str:
    """Flatten openapi-core's nested errors into one readable reason."""
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None)
    if schema_errors:
        parts += [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in schema_errors
        ]
    elif cause is not None:
        parts.append(f"{type(cause).__name__}: {cause}")
    return "; ".join(parts)


class OpenAPIFake(FakeServer):
    """Validates path, method, parameters, body schema, content type and auth presence."""

    spec_file: ClassVar[str] = ""  # relative to the vendor specs directory
    spec_host_url: ClassVar[str] = ""  # a server URL from the spec, so paths match
    spec_patch_key: ClassVar[str] = ""

    def __init__(
        self,
        *,
        spec: Path | None = None,
        rate_limit: RateLimit | None = None,
        stop_timeout: float = 2.0,
        check_on_exit: bool = True,
    ) -> None:
        super().__init__(
            rate_limit=rate_limit, stop_timeout=stop_timeout, check_on_exit=check_on_exit
        )
        from connectors.testing.fakes.openapi_spec import spec_path

        self.spec: LoadedSpec = load_spec(
            spec or spec_path(self.spec_file), self.spec_patch(), self.spec_patch_key
        )

    def spec_patch(self) -> Patch | None:
        """Deliberate, documented deviations from the spec text (None: use it as is)."""
        return None

    def check_credentials(self, request: web.Request) -> Rejection | None:
        """Check the credential values (the spec only says which scheme is required)."""
        return None

    async def validate(self, request: web.Request, body: bytes) -> Rejection | None:
        from openapi_core.templating.paths.exceptions import (
            OperationNotFound,
            PathNotFound,
            ServerNotFound,
        )
        from openapi_core.validation.request.exceptions import SecurityValidationError

        result: Any = self.spec.openapi.unmarshal_request(
            _SpecRequest(request, body, self.spec_host_url)
        )
        errors = list(result.errors)
        if not errors:
            return self.check_credentials(request)
        first = errors[0]
        reason = "; ".join(_describe(e) for e in errors)
        if isinstance(first, PathNotFound | OperationNotFound | ServerNotFound):
            return Rejection(404, f"not in the vendor spec: {reason}")
        if isinstance(first, SecurityValidationError):
            return Rejection(401, f"authentication required: {reason}")
        return Rejection(400, reason)
