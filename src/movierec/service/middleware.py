"""ASGI middleware of the service: the request body size limit."""

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodySizeLimit"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    It checks the declared Content-Length first, then counts the bytes actually received (a
    chunked body declares none), buffering at most ``max_bytes`` before the app sees any.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _send_error(send, 400, "invalid Content-Length header")
            return
        if declared is not None and declared > self.max_bytes:
            await _send_error(send, 413, self._too_large(declared))
            return
        if declared == 0 or (declared is None and not _may_have_body(scope)):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, self._too_large(size, streamed=True))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int, streamed: bool = False) -> str:
        amount = f"more than {self.max_bytes}" if streamed else str(size)
        return (f"request body of {amount} bytes is over the limit of {self.max_bytes} bytes; "
                "send fewer items per request")


def _content_length(scope: Scope) -> int | None:
    """The declared body size; None if absent, -1 if malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 19 else -1
    return None


def _may_have_body(scope: Scope) -> bool:
    if scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
        return True
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


async def _send_error(send: Send, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status,
                            headers={"Connection": "close"})
    body = response.body
    await send({"type": "http.response.start", "status": status,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": body})
