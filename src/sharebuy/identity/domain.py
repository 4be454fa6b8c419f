"""Pure identity rules: password policy, logins, signed access tokens, TOTP, opaque secrets.

Standard library only.  Secrets handed out (refresh and session tokens, API keys) are random
and only their SHA-256 digest is ever stored; access tokens are self-contained compact JWS
(HS256) whose signature is checked in constant time before any claim is believed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode

from sharebuy.kernel.errors import InvalidInput, Unauthenticated
from sharebuy.kernel.text import displayable

OPERATOR_ROLES = ("admin", "auditor")
USER_ROLES = ("consumer", *OPERATOR_ROLES)

# -- passwords and logins --------------------------------------------------------------------

PASSWORD_MIN = 8
PASSWORD_MAX = 128
DIGITS_ONLY_MIN = 12  # an all-digit password this short falls to a quick search (or is a phone)


def check_password(password: str, login: str) -> None:
    """Refuse passwords that are too short, too long, short digit strings, or the login itself."""
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(
            "password_too_short",
            f"密码至少 {PASSWORD_MIN} 个字符",
            f"a password has at least {PASSWORD_MIN} characters",
        )
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(
            "password_too_long",
            f"密码最多 {PASSWORD_MAX} 个字符",
            f"a password has at most {PASSWORD_MAX} characters",
        )
    if password.isdigit() and len(password) < DIGITS_ONLY_MIN:
        raise InvalidInput(
            "password_too_simple",
            f"纯数字密码至少 {DIGITS_ONLY_MIN} 位",
            f"a password of digits only needs at least {DIGITS_ONLY_MIN} of them",
        )
    if password.strip().casefold() == login.strip().casefold():
        raise InvalidInput("password_is_login", "密码不能与登录名相同", "the password cannot be the login")


_OPERATOR_LOGIN = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")


def normalise_operator_login(text: str) -> str:
    """Operators' logins start with a letter, so none can ever collide with a consumer's phone."""
    login = str(text).strip().lower()
    if not _OPERATOR_LOGIN.match(login):
        raise InvalidInput(
            "invalid_login",
            "登录名应为 3–64 个字符：字母开头，只含小写字母、数字、点、下划线和连字符",
            "a login is 3–64 characters: a letter first, then lower-case letters, digits, '.', '_' or '-'",
        )
    return login


def check_role(role: str, allowed: tuple[str, ...] = OPERATOR_ROLES) -> str:
    if role not in allowed:
        names = "、".join(allowed)
        raise InvalidInput(
            "invalid_role", f"角色只能是 {names}", f"role must be one of {', '.join(allowed)}", role=role
        )
    return role


# -- lock-out ------------------------------------------------------------------------------


def lock_after_failure(
    failures: int, max_failures: int, now: datetime, lockout_minutes: int
) -> datetime | None:
    """The moment the account unlocks if `failures` consecutive failures lock it, else None."""
    if failures >= max_failures:
        return now + timedelta(minutes=lockout_minutes)
    return None


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


# -- opaque secrets ------------------------------------------------------------------------


def new_token() -> str:
    """A bearer secret of 256 random bits (refresh tokens, session tokens, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def new_id() -> str:
    """A random 128-bit identifier, in hex: refresh-token families, access-token ids."""
    return secrets.token_hex(16)


def digest(secret: str) -> str:
    """What the database keeps of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


API_KEY_MARK = "sbk_"
API_KEY_PREFIX_LENGTH = 10
# Letters and digits only: url-safe, and the prefix never contains the '_' that separates it.
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_API_KEY = re.compile(rf"^{API_KEY_MARK}([A-Za-z0-9]{{{API_KEY_PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{20,128}})$")


@dataclass(frozen=True)
class ApiKey:
    prefix: str  # public: stored, shown in lists, used to find the key
    secret: str  # only its digest is stored

    @property
    def key(self) -> str:
        return f"{API_KEY_MARK}{self.prefix}_{self.secret}"


def new_api_key() -> ApiKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(API_KEY_PREFIX_LENGTH))
    return ApiKey(prefix, secrets.token_urlsafe(32))


def invalid_api_key() -> Unauthenticated:
    return Unauthenticated("invalid_api_key", "API 密钥无效或已吊销", "the API key is invalid or revoked")


def parse_api_key(text: str) -> ApiKey:
    """`sbk_<prefix>_<secret>` → its parts; anything else is refused as an invalid key."""
    found = _API_KEY.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise invalid_api_key()
    return ApiKey(found.group(1), found.group(2))


def clean_key_name(name: str) -> str:
    value = " ".join(str(name or "").split())
    # The name is shown to the merchant's staff in the console: a control or format character
    # (a right-to-left override) could disguise one till's key as another's.
    if not 1 <= len(value) <= 64 or not displayable(value):
        raise InvalidInput(
            "invalid_key_name",
            "密钥名称应为 1–64 个可显示的字符",
            "a key name is 1–64 characters that can be displayed",
        )
    return value


# -- access tokens (compact JWS, HS256) ------------------------------------------------------

TOKEN_MAX_LENGTH = 4096
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_HEADER = {"alg": "HS256", "typ": "JWT"}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url; raises ValueError on anything else."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error


def _json_part(value: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _sign(signing_input: str, key: bytes) -> str:
    return b64url_encode(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def access_claims(*, user_id: int, role: str, now: datetime, minutes: int, jti: str) -> dict[str, Any]:
    issued = int(now.timestamp())
    return {
        "sub": str(user_id),
        "role": role,
        "typ": "access",
        "iat": issued,
        "exp": issued + minutes * 60,
        "jti": jti,
    }


def encode_token(claims: Mapping[str, Any], key: bytes, header: Mapping[str, Any] = _HEADER) -> str:
    signing_input = f"{_json_part(header)}.{_json_part(claims)}"
    return f"{signing_input}.{_sign(signing_input, key)}"


def invalid_token() -> Unauthenticated:
    return Unauthenticated("invalid_token", "令牌无效，请重新登录", "the token is invalid; sign in again")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_access_token(token: str, key: bytes, now: datetime) -> dict[str, Any]:
    """The claims of a valid, unexpired access token; Unauthenticated for anything else."""
    if not isinstance(token, str) or len(token) > TOKEN_MAX_LENGTH:
        raise invalid_token()
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL.match(part) for part in parts):
        raise invalid_token()
    header_part, claims_part, signature = parts
    try:
        header = json.loads(b64url_decode(header_part))
        # Only HS256: "none", or an asymmetric alg whose public key could be fed in as the HMAC
        # key, must never be honoured because the token says so.
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise invalid_token()
        expected = _sign(f"{header_part}.{claims_part}", key)
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
            raise invalid_token()
        claims = json.loads(b64url_decode(claims_part))
    except (ValueError, RecursionError):
        raise invalid_token() from None
    if not isinstance(claims, dict) or claims.get("typ") != "access":
        raise invalid_token()
    sub, role, exp = claims.get("sub"), claims.get("role"), claims.get("exp")
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 18):
        raise invalid_token()
    if not isinstance(role, str) or not _is_int(exp) or not _is_int(claims.get("iat")):
        raise invalid_token()
    if exp <= int(now.timestamp()):
        raise Unauthenticated(
            "token_expired", "令牌已过期，请刷新或重新登录", "the token has expired; refresh it"
        )
    return claims


# -- TOTP (RFC 6238 over RFC 4226 HOTP) -----------------------------------------------------

TOTP_STEP = 30
TOTP_DIGITS = 6
TOTP_WINDOW = 1  # one step either side: clocks drift and people type slowly


def new_totp_secret() -> str:
    """160 random bits (RFC 4226's recommended key size), base32 without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def totp_key(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(
    key: bytes, counter: int, digits: int = TOTP_DIGITS, algorithm: Callable[..., Any] = hashlib.sha1
) -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), algorithm).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(
    key: bytes,
    unix_time: int,
    *,
    digits: int = TOTP_DIGITS,
    step: int = TOTP_STEP,
    algorithm: Callable[..., Any] = hashlib.sha1,
) -> str:
    return hotp(key, unix_time // step, digits, algorithm)


def totp_step(secret: str, code: str | None, now: datetime, window: int = TOTP_WINDOW) -> int | None:
    """The time step whose 6-digit code `code` is (the step `now` falls in, or one either side),
    or None.  The step lets the caller accept each code once (RFC 6238 §5.2: no replay)."""
    given = "".join(str(code or "").split())
    if len(given) != TOTP_DIGITS or not given.isascii() or not given.isdigit():
        return None
    key = totp_key(secret)
    counter = int(now.timestamp()) // TOTP_STEP
    matched: int | None = None
    for drift in range(-window, window + 1):
        # Every candidate is compared, in constant time, so timing does not tell which matched.
        if hmac.compare_digest(hotp(key, counter + drift), given):
            matched = counter + drift
    return matched


def verify_totp(secret: str, code: str | None, now: datetime, window: int = TOTP_WINDOW) -> bool:
    """Whether `code` is the 6-digit code of the step `now` falls in, or of one step either side."""
    return totp_step(secret, code, now, window) is not None


def otpauth_uri(secret: str, account: str, issuer: str = "Sharebuy") -> str:
    """The URI authenticator apps read from a QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": TOTP_STEP}
    )
    return f"otpauth://totp/{label}?{query}"
