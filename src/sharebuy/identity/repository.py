"""Identity queries: users, refresh tokens, web sessions, API keys, and whose merchants a user acts for.

Times go in and come out in UTC: SQLite keeps no offset, so a naive value read back is UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, literal, or_, select, union_all, update

from sharebuy.db.prepared import Prepared
from sharebuy.identity.models import api_keys, refresh_tokens, users, web_sessions
from sharebuy.members.models import merchant_staff, merchants

Row = Mapping[Any, Any]


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- users ---------------------------------------------------------------------------------


def user(conn: Connection, user_id: int) -> Row | None:
    return conn.execute(select(users).where(users.c.id == user_id)).mappings().first()


def user_by_login(conn: Connection, login: str) -> Row | None:
    return conn.execute(select(users).where(users.c.login == login)).mappings().first()


def user_by_member(conn: Connection, member_id: int) -> Row | None:
    return conn.execute(select(users).where(users.c.member_id == member_id)).mappings().first()


def all_users(conn: Connection) -> list[Row]:
    return list(conn.execute(select(users).order_by(users.c.id)).mappings())


def insert_user(
    conn: Connection,
    *,
    login: str,
    role: str,
    password_hash: str,
    now: datetime,
    member_id: int | None = None,
) -> int:
    return int(
        conn.execute(
            insert(users).returning(users.c.id),
            {
                "login": login,
                "member_id": member_id,
                "role": role,
                "password_hash": password_hash,
                "totp_enabled": False,
                "failed_attempts": 0,
                "disabled": False,
                "created_at": now,
            },
        ).scalar_one()
    )


def update_user(conn: Connection, user_id: int, **values: Any) -> int:
    return conn.execute(update(users).where(users.c.id == user_id).values(**values)).rowcount


def claim_totp_step(conn: Connection, user_id: int, step: int) -> bool:
    """Record `step` as the last TOTP step used, if it is later than the one recorded: one
    conditional update, so two sign-ins racing with the same code cannot both claim it."""
    later = or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step)
    claimed = conn.execute(
        update(users).where(users.c.id == user_id, later).values(totp_last_step=step)
    ).rowcount
    return bool(claimed)


def count_failure(conn: Connection, user_id: int) -> int:
    """One more consecutive failure; the increment happens in the database, so concurrent
    failures are all counted (the row lock serialises them), and the new count comes back."""
    return int(
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(failed_attempts=users.c.failed_attempts + 1)
            .returning(users.c.failed_attempts)
        ).scalar_one()
    )


def merchants_of(conn: Connection, member_id: int) -> tuple[frozenset[int], frozenset[int]]:
    """(merchants the member owns, merchants it owns or is staff of), in one round trip."""
    owned = select(merchants.c.member_id.label("merchant_id"), literal(1).label("owner")).where(
        merchants.c.owner_id == member_id
    )
    staffed = select(merchant_staff.c.merchant_id, literal(0)).where(
        merchant_staff.c.consumer_id == member_id
    )
    rows = conn.execute(union_all(owned, staffed)).all()
    return (
        frozenset(int(r[0]) for r in rows if r[1]),
        frozenset(int(r[0]) for r in rows),
    )


# -- refresh tokens and web sessions ---------------------------------------------------------


def insert_refresh_token(
    conn: Connection, *, user_id: int, token_hash: str, family: str, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(refresh_tokens),
        {
            "user_id": user_id,
            "token_hash": token_hash,
            "family": family,
            "issued_at": now,
            "expires_at": expires_at,
        },
    )


def refresh_token(conn: Connection, token_hash: str) -> Row | None:
    return (
        conn.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash))
        .mappings()
        .first()
    )


def use_refresh_token(conn: Connection, token_id: int, now: datetime) -> bool:
    """Mark the token used, only if it is still fresh: of two rotations racing with one token,
    exactly one sees its update land; the other is a reuse."""
    done = conn.execute(
        update(refresh_tokens)
        .where(
            refresh_tokens.c.id == token_id,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    return done.rowcount == 1


def revoke_family(conn: Connection, family: str, now: datetime) -> None:
    conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family == family, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_user_tokens(conn: Connection, user_id: int, now: datetime) -> None:
    conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        update(web_sessions)
        .where(web_sessions.c.user_id == user_id, web_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def insert_session(
    conn: Connection, *, user_id: int, token_hash: str, csrf_token: str, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(web_sessions),
        {
            "user_id": user_id,
            "token_hash": token_hash,
            "csrf_token": csrf_token,
            "created_at": now,
            "expires_at": expires_at,
        },
    )


def session(conn: Connection, token_hash: str) -> Row | None:
    return (
        conn.execute(select(web_sessions).where(web_sessions.c.token_hash == token_hash)).mappings().first()
    )


def revoke_session(conn: Connection, token_hash: str, now: datetime) -> None:
    conn.execute(
        update(web_sessions)
        .where(web_sessions.c.token_hash == token_hash, web_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# -- API keys --------------------------------------------------------------------------------


def insert_api_key(
    conn: Connection,
    *,
    merchant_id: int,
    prefix: str,
    secret_hash: str,
    name: str,
    created_by: int | None,
    now: datetime,
) -> int:
    return int(
        conn.execute(
            insert(api_keys).returning(api_keys.c.id),
            {
                "merchant_id": merchant_id,
                "prefix": prefix,
                "secret_hash": secret_hash,
                "name": name,
                "created_by": created_by,
                "created_at": now,
            },
        ).scalar_one()
    )


# Read on every request a till makes: prepared (db.prepared), no per-call statement building.
_key_by_prefix = Prepared(select(api_keys).where(api_keys.c.prefix == bindparam("prefix")))


def api_key_by_prefix(conn: Connection, prefix: str) -> Mapping[str, Any] | None:
    return _key_by_prefix.run(conn, {"prefix": prefix}).mapping()


def api_key(conn: Connection, merchant_id: int, key_id: int) -> Row | None:
    return (
        conn.execute(select(api_keys).where(api_keys.c.id == key_id, api_keys.c.merchant_id == merchant_id))
        .mappings()
        .first()
    )


def api_keys_of(conn: Connection, merchant_id: int) -> list[Row]:
    return list(
        conn.execute(select(api_keys).where(api_keys.c.merchant_id == merchant_id).order_by(api_keys.c.id))
        .mappings()
        .all()
    )


def revoke_api_key(conn: Connection, key_id: int, now: datetime) -> None:
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def touch_api_key(conn: Connection, key_id: int, now: datetime, not_since: datetime) -> None:
    """Record a use, unless one was recorded after `not_since` (a busy till writes once a minute)."""
    conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            (api_keys.c.last_used_at.is_(None)) | (api_keys.c.last_used_at < not_since),
        )
        .values(last_used_at=now)
    )
