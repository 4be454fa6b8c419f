"""Identity tables. Secrets are never stored as given: passwords as argon2id hashes, refresh
tokens, session tokens and API keys as SHA-256 digests of high-entropy random values."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table

from sharebuy.db.base import IdType, metadata

users = Table(
    "users",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    # Consumers sign in with their phone; operators with a login name.  Staff are consumers.
    Column("login", String(64), nullable=False, unique=True),
    Column("member_id", IdType, ForeignKey("members.id"), nullable=True, unique=True),
    Column("role", String(10), nullable=False),  # consumer | admin | auditor
    Column("password_hash", String(256), nullable=False),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_enabled", Boolean, nullable=False, server_default="0"),
    # The time step of the last TOTP code accepted: a code is good once, never replayed.
    Column("totp_last_step", BigInteger, nullable=True),
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_sign_in_at", DateTime(timezone=True), nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("user_id", IdType, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    # Rotation keeps one family per sign-in: reuse of a rotated token revokes the whole family.
    Column("family", String(32), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
Index("ix_refresh_tokens_family", refresh_tokens.c.family)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("user_id", IdType, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
Index("ix_web_sessions_user", web_sessions.c.user_id)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=False),
    # The public part of the key, shown in lists; the secret part is only ever hashed.
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_by", IdType, ForeignKey("users.id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
Index("ix_api_keys_merchant", api_keys.c.merchant_id)
