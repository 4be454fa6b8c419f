"""The server's HTTP protocol: uvicorn's httptools protocol with Nagle's algorithm switched off.

httptools parses requests with llhttp (C); uvicorn's h11 protocol parses them in Python, which
cost about a tenth of a worker's CPU per purchase.  The h11 variant stays for a machine where
httptools cannot be installed.

Several workers share a listening socket that uvicorn opens itself (protocol number 0), and
asyncio sets TCP_NODELAY only on accepted sockets whose protocol is IPPROTO_TCP.  Without it a
response written as headers then body waits for the client's delayed ACK (about 40 ms on Linux)
on every request after the first of a kept-alive connection: a till's 5 ms sale took 45 ms.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _no_delay(transport)
        super().connection_made(transport)  # type: ignore[arg-type]


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _no_delay(transport)
        super().connection_made(transport)  # type: ignore[arg-type]
