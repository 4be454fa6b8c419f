"""The server's sockets send small writes at once (TCP_NODELAY), however the listening socket
was opened: uvicorn opens it with protocol number 0 when several workers share it, and then
asyncio leaves Nagle's algorithm on, which held every kept-alive answer ~40 ms."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from sharebuy.web.transport import NoDelayH11Protocol, NoDelayHttpToolsProtocol


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _nodelay_after_accept(protocol: type[H11Protocol | HttpToolsProtocol]) -> tuple[int, bytes]:
    config = uvicorn.Config(app=_hello, lifespan="off", log_config=None)
    config.load()
    state = ServerState()
    seen: list[int] = []

    class Probe(protocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            seen.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    async def main() -> bytes:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)  # as uvicorn binds it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Probe(config, state, {}), sock=listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        await writer.drain()
        answer = await reader.readuntil(b"ok")
        writer.close()
        server.close()
        await server.wait_closed()
        return answer

    answer = asyncio.run(main())
    return seen[0], answer


@pytest.mark.parametrize("protocol", [NoDelayHttpToolsProtocol, NoDelayH11Protocol])
def test_the_servers_connections_send_without_delay(
    protocol: type[NoDelayHttpToolsProtocol | NoDelayH11Protocol],
) -> None:
    nodelay, answer = _nodelay_after_accept(protocol)
    assert answer.startswith(b"HTTP/1.1 200")
    assert nodelay != 0


@pytest.mark.parametrize("protocol", [HttpToolsProtocol, H11Protocol])
def test_uvicorns_own_protocol_would_leave_nagle_on(protocol: type[HttpToolsProtocol | H11Protocol]) -> None:
    """The condition the fix answers: if this ever fails, uvicorn or asyncio fixed it upstream."""
    nodelay, _ = _nodelay_after_accept(protocol)
    assert nodelay == 0
