"""Collectibles queries on the caller's connection, inside its unit of work.

Lock order, the same in every use case: the edition row (redeeming), or the token row
(gifting), then member accounts (ledger.lock_member_accounts, ascending ids), then the shared
platform accounts.  A serial is decided only on the locked edition row: that is what keeps
serials 1..N contiguous and never above N when many redeem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select

from sharebuy.collectibles.models import editions, provenance, tokens
from sharebuy.kernel.errors import not_found
from sharebuy.members.models import consumers, members

Row = Mapping[Any, Any]

# Every edition column but the image bytes: lists and views never load the pictures.
EDITION_FACTS = [c for c in editions.c if c.name != "image"]


def insert_row(conn: Connection, table: Any, values: Mapping[str, Any]) -> int:
    return int(conn.execute(insert(table).returning(table.c.id), dict(values)).scalar_one())


def edition(conn: Connection, edition_id: int, *, lock: bool = False) -> Row:
    stmt = select(*EDITION_FACTS).where(editions.c.id == edition_id)
    if lock:
        stmt = stmt.with_for_update()  # the next serial is read and written on this row only
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("藏品系列", "edition", edition_id)
    return row


def edition_list(conn: Connection, *, before: int | None = None, limit: int = 50) -> list[Row]:
    stmt = select(*EDITION_FACTS)
    if before is not None:
        stmt = stmt.where(editions.c.id < before)
    return list(conn.execute(stmt.order_by(editions.c.id.desc()).limit(limit)).mappings())


def image(conn: Connection, edition_id: int) -> Row:
    row = (
        conn.execute(
            select(editions.c.image_type, editions.c.image, editions.c.image_sha256).where(
                editions.c.id == edition_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise not_found("藏品系列", "edition", edition_id)
    return row


def token(conn: Connection, token_id: str, *, lock: bool = False) -> Row:
    stmt = select(tokens).where(tokens.c.token_id == token_id)
    if lock:
        stmt = stmt.with_for_update()  # owner and holding period are decided on the locked row
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("藏品", "token", token_id)
    return row


def tokens_of(conn: Connection, owner_id: int) -> list[Row]:
    stmt = select(tokens).where(tokens.c.owner_id == owner_id).order_by(tokens.c.id.desc())
    return list(conn.execute(stmt).mappings())


def records(conn: Connection, token_id: str) -> list[Row]:
    stmt = select(provenance).where(provenance.c.token_id == token_id).order_by(provenance.c.seq)
    return list(conn.execute(stmt).mappings())


def last_record(conn: Connection, token_id: str) -> Row:
    stmt = (
        select(provenance).where(provenance.c.token_id == token_id).order_by(provenance.c.seq.desc()).limit(1)
    )
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("藏品", "token", token_id)
    return row


def person(conn: Connection, member_id: int) -> Row | None:
    """A consumer's standing for collectibles: kind, frozen, real-name verification."""
    stmt = (
        select(members.c.id, members.c.kind, members.c.frozen, consumers.c.real_name_verified_at)
        .outerjoin(consumers, consumers.c.member_id == members.c.id)
        .where(members.c.id == member_id)
    )
    return conn.execute(stmt).mappings().first()


def consumer_by_phone(conn: Connection, phone: str) -> int | None:
    found = conn.execute(select(consumers.c.member_id).where(consumers.c.phone == phone)).scalar()
    return None if found is None else int(found)


def minted_count(conn: Connection, edition_id: int) -> int:
    stmt = select(func.count()).select_from(tokens).where(tokens.c.edition_id == edition_id)
    return int(conn.execute(stmt).scalar_one())
