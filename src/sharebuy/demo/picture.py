"""Small PNG pictures for the demo's collectible editions, drawn in code (no file, no download).

A picture is a few horizontal bands of colour with a sun: enough to tell two editions apart on
the gallery page.  The bytes are a plain PNG (8-bit RGB, one IDAT chunk), deterministic, so the
SHA-256 the edition stores is the same on every machine.
"""

from __future__ import annotations

import struct
import zlib

Colour = tuple[int, int, int]


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def banded_png(bands: list[Colour], sun: Colour, *, size: int = 96) -> bytes:
    """A size × size PNG: `bands` stacked top to bottom, a disc of colour `sun` in the upper half."""
    centre_x, centre_y, radius = size * 2 // 3, size // 3, size // 7
    rows = []
    for y in range(size):
        band = bands[min(y * len(bands) // size, len(bands) - 1)]
        row = bytearray(b"\x00")  # filter type 0 (none) for each scanline
        for x in range(size):
            inside = (x - centre_x) ** 2 + (y - centre_y) ** 2 <= radius**2
            row += bytes(sun if inside else band)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )
