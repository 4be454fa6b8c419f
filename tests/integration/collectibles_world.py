"""Collectibles test helpers: real images made by hand, a real-name consumer with points, an
edition open around the test clock."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from sharebuy.collectibles import service as collectibles
from sharebuy.members import service as members
from tests.integration.market_world import fund, id_number
from tests.integration.world import new_consumer


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(colour: int = 0) -> bytes:
    """A real 1×1 greyscale PNG; `colour` changes its bytes, and so its hash."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    pixels = _chunk(b"IDAT", zlib.compress(bytes([0, colour % 256])))
    return b"\x89PNG\r\n\x1a\n" + header + pixels + _chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def collector(engine: Engine, *, now: datetime, points: str = "0", real_name: bool = True) -> int:
    member_id = new_consumer(engine)
    if real_name:
        members.set_real_name(engine, member_id, "李四", id_number(), now=now)
    if points != "0":
        fund(engine, member_id, points)
    return member_id


def edition(
    engine: Engine,
    *,
    now: datetime,
    supply: int = 10,
    price: str = "5",
    image: bytes | None = None,
    **kw: Any,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title_zh": "莞城骑楼",
        "title_en": "Arcades of Guancheng",
        "description_zh": "限量数字藏品，凭积分兑换，不可买卖。",
        "supply": supply,
        "price": price,
        "opens_at": now - timedelta(days=1),
        "closes_at": now + timedelta(days=400),
        "image": png() if image is None else image,
        "actor": "admin",
        "now": now,
    }
    values.update(kw)
    return collectibles.create_edition(engine, **values)
