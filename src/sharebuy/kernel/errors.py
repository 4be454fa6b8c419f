"""Typed errors carrying a stable code and a message in 简体中文 and English.

Adapters translate them: the CLI into {"error": {...}} and a non-zero exit, the HTTP API into
problem+json with the status named here.
"""

from __future__ import annotations

from typing import Any


class SharebuyError(Exception):
    """Base of every refusal the platform explains to its user."""

    status = 400

    def __init__(self, code: str, message_zh: str, message_en: str, **details: Any) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.details = details

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang.lower().startswith("en") else self.message_zh

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message(lang),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }
        if self.details:
            body["details"] = {k: str(v) for k, v in self.details.items()}
        return body


class InvalidInput(SharebuyError):
    status = 422


class Unauthenticated(SharebuyError):
    """No valid credentials: sign in (or present a valid token or key) first."""

    status = 401


class Forbidden(SharebuyError):
    """Valid credentials that do not allow this action or this object."""

    status = 403


class RateLimited(SharebuyError):
    status = 429


class NotFound(SharebuyError):
    status = 404


class Conflict(SharebuyError):
    status = 409


class Refused(SharebuyError):
    """A well-formed request that the rules do not allow (limits, status, balances)."""

    status = 422


class IntegrityViolation(SharebuyError):
    """Something that must never happen happened; verify reports these."""

    status = 500


def not_found(what_zh: str, what_en: str, ident: object) -> NotFound:
    return NotFound(
        f"{what_en.replace(' ', '_')}_not_found",
        f"{what_zh} {ident} 不存在",
        f"{what_en} {ident} does not exist",
        id=ident,
    )
