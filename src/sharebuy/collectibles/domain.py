"""Pure rules of digital collectibles (数字藏品, SPEC §7 and §10): images, token ids, the
provenance hash chain, the holding period and the ERC-721 metadata.  Standard library only,
so the services, `verify` and the tests share one definition of each.

Invariants kept here: an edition's image is a PNG, JPEG or WebP by its own bytes (never by a
declared type) and at most MAX_IMAGE_BYTES; a token id is a pure function of the edition, its
serial and its image hash; a provenance record's hash links it to the one before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sharebuy.kernel.errors import InvalidInput

GENESIS_HASH = "0" * 64
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_SUPPLY = 100_000
MINT, GIFT = "mint", "gift"
TOKEN_ID_PREFIX = b"sharebuy:collectible:v1"


# -- the image ---------------------------------------------------------------------------------


def sniff_image(data: bytes) -> str:
    """The content type from the file's first bytes, PNG, JPEG or WebP; anything else is refused.

    A declared content type or file name is never trusted: a script named .png stays a script.
    Beyond the magic number each format's first structure is checked, so that eight stray
    bytes in front of text do not pass for an image.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return "image/png"
    if data.startswith(b"\xff\xd8\xff") and len(data) > 4:
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:15] == b"VP8":
        return "image/webp"
    raise InvalidInput(
        "unsupported_image",
        "藏品图片只接受 PNG、JPEG 或 WebP 格式",
        "a collectible's image must be a PNG, JPEG or WebP file",
    )


def check_image(data: bytes) -> tuple[str, str]:
    """(content type, SHA-256 hex) of an acceptable image, or a refusal naming the problem."""
    if not data:
        raise InvalidInput("empty_image", "图片文件为空", "the image file is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(
            "image_too_large",
            f"图片不能超过 {MAX_IMAGE_BYTES // 1024 // 1024} MB",
            f"an image may be at most {MAX_IMAGE_BYTES // 1024 // 1024} MB",
            limit=MAX_IMAGE_BYTES,
        )
    return sniff_image(data), hashlib.sha256(data).hexdigest()


# -- identifiers -------------------------------------------------------------------------------


def token_id(edition_id: int, serial: int, content_hash: str) -> str:
    """The token's public id: SHA-256("sharebuy:collectible:v1" ‖ 0x00 ‖ edition ‖ 0x00 ‖ serial ‖
    0x00 ‖ image hash), as 64 hex digits (an ERC-721 uint256 in hex).  Derived, so it is the same
    on every copy of the data and can be recomputed by anyone holding the edition's facts."""
    text = b"\x00".join(
        [TOKEN_ID_PREFIX, str(edition_id).encode(), str(serial).encode(), content_hash.encode()]
    )
    return hashlib.sha256(text).hexdigest()


# -- provenance --------------------------------------------------------------------------------


def _moment(value: datetime) -> str:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


def canonical_record(record: Mapping[str, Any]) -> bytes:
    """The bytes hashed for a provenance record: its immutable facts, keys sorted, no spaces."""
    body = {
        "token_id": str(record["token_id"]),
        "seq": int(record["seq"]),
        "kind": str(record["kind"]),
        "from_member": None if record["from_member"] is None else int(record["from_member"]),
        "to_member": int(record["to_member"]),
        "entry_id": None if record["entry_id"] is None else int(record["entry_id"]),
        "at": _moment(record["at"]),
        "actor": str(record["actor"]),
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def record_hash(prev_hash: str, canonical: bytes) -> str:
    """hash = SHA-256(previous hash ‖ canonical record), the journal's chain style (SPEC §8)."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


# -- the holding period ------------------------------------------------------------------------


def giftable_from(acquired_at: datetime, hold_days: int) -> datetime:
    """The first moment the current owner may give the token away."""
    aware = acquired_at.replace(tzinfo=UTC) if acquired_at.tzinfo is None else acquired_at
    return aware + timedelta(days=hold_days)


# -- ERC-721 metadata --------------------------------------------------------------------------


def image_uri(content_hash: str, base_url: str | None, edition_id: int) -> str:
    """A URL where the image is served, when the caller knows one; else its content address."""
    if base_url:
        return f"{base_url.rstrip('/')}/api/v1/collectibles/editions/{edition_id}/image"
    return f"sha256:{content_hash}"


def edition_metadata(edition: Mapping[str, Any], base_url: str | None = None) -> dict[str, Any]:
    """ERC-721 (OpenSea-style) contract-level JSON for an edition."""
    return {
        "name": edition["title_zh"],
        "description": edition["description_zh"],
        "image": image_uri(edition["image_sha256"], base_url, int(edition["id"])),
        "attributes": [
            {"trait_type": "edition", "value": int(edition["id"])},
            {"trait_type": "supply", "value": int(edition["supply"])},
            {"trait_type": "content_hash", "value": f"sha256:{edition['image_sha256']}"},
        ],
        "localization": _localization(edition),
    }


def token_metadata(
    edition: Mapping[str, Any], serial: int, token: str, base_url: str | None = None
) -> dict[str, Any]:
    """ERC-721 token JSON: name, description, image and attributes (edition, serial, supply,
    content hash); the English title and description, when given, under `localization`."""
    supply = int(edition["supply"])
    return {
        "name": f"{edition['title_zh']} #{serial}/{supply}",
        "description": edition["description_zh"],
        "image": image_uri(edition["image_sha256"], base_url, int(edition["id"])),
        "token_id": token,
        "attributes": [
            {"trait_type": "edition", "value": int(edition["id"])},
            {"trait_type": "serial", "value": serial, "max_value": supply, "display_type": "number"},
            {"trait_type": "supply", "value": supply},
            {"trait_type": "content_hash", "value": f"sha256:{edition['image_sha256']}"},
        ],
        "localization": _localization(edition),
    }


def _localization(edition: Mapping[str, Any]) -> dict[str, Any]:
    en: dict[str, str] = {}
    if edition.get("title_en"):
        en["name"] = str(edition["title_en"])
    if edition.get("description_en"):
        en["description"] = str(edition["description_en"])
    return {"default": "zh-CN", "en": en} if en else {"default": "zh-CN"}
