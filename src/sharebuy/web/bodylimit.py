"""A cap on request bodies, so that no client can make a server read without end (OWASP API4).

JSON bodies here are a few hundred bytes; uploads (evidence images, collectible images) are
bounded by their own rules and fit under the larger cap.  The cap is applied while the body is
read, whether or not a Content-Length was declared (a chunked body is counted as it arrives),
and the refusal is the platform's 413 problem, raised where the route reads its body.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_BYTES = 256 * 1024
UPLOAD_BYTES = 12 * 1024 * 1024


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, json_bytes: int = JSON_BYTES, upload_bytes: int = UPLOAD_BYTES
    ) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = self.upload_bytes if upload else self.json_bytes
        declared = headers.get(b"content-length", b"")
        too_big = declared.isdigit() and int(declared) > limit
        received = 0

        async def limited() -> Message:
            nonlocal received
            if too_big:  # refused before a byte of it is read
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited, send)
