"""What one client can make the monitor hold: request bodies and metric label values.

The body limit is an ASGI middleware outside everything else: a declared ``Content-Length``
over the limit is answered 413 before any byte of the body is read, and a body sent without
one (chunked) is counted as it arrives and cut off at the limit. uvicorn stops reading the
socket while the app has not asked for more, so at most the limit (plus one socket buffer) is
ever held per request, whatever the client sends.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["KNOWN_METHODS", "BodyLimit", "BodyTooLarge", "method_label"]

#: Methods counted under their own name in the request metrics; any other is ``other``, so a
#: client inventing method names cannot grow ``/metrics``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


class BodyTooLarge(HTTPException):
    """A request body went past the limit (an HTTPException, so that FastAPI's body reading
    passes it on instead of calling it a parse error)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


class BodyLimit:
    """Answers 413 to any request body over ``max_bytes`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Connection: close, so the server does not go on reading the rest of the body.
        response = JSONResponse({"detail": f"request body over the limit of {self.max_bytes} "
                                           "bytes"}, status_code=413,
                                headers={"Connection": "close"})
        await response(scope, receive, send)
