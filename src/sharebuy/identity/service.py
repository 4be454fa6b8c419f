"""Identity use cases: registration, sign-in, tokens, web sessions, POS API keys, TOTP.

Who a caller is (`Principal`) is rebuilt from the database on every authentication, so a
disabled user or a staff member taken off a merchant loses access at once, not when a token
expires.  Password hashing (deliberately slow) runs outside any transaction.  What must stay
written although the caller is refused (a failed attempt, a revoked token family, a key's last
use) is bookkeeping in a unit of work of its own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from sharebuy.db.uow import UnitOfWork, is_retryable, reading, reading_one, transaction
from sharebuy.identity import domain, repository
from sharebuy.identity.repository import Row, utc
from sharebuy.kernel.errors import (
    Conflict,
    InvalidInput,
    RateLimited,
    Refused,
    Unauthenticated,
    not_found,
)
from sharebuy.members import domain as members_domain
from sharebuy.members import repository as members_repository
from sharebuy.members import service as members
from sharebuy.settings import get_settings

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """Who is calling, and for which merchants it may act."""

    role: str  # consumer | admin | auditor | pos
    user_id: int | None = None  # None for a POS key
    member_id: int | None = None  # the consumer's member id
    # Merchants this user owns or is staff of, looked up at every authentication.
    merchant_ids: frozenset[int] = frozenset()
    owned_merchant_ids: frozenset[int] = frozenset()
    api_key_id: int | None = None
    scope: str = ""  # "user:<id>" or "key:<id>": whose idempotency keys these are

    @property
    def is_operator(self) -> bool:
        return self.role in domain.OPERATOR_ROLES


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    token_type: str  # "Bearer"
    expires_in: int  # seconds the access token lives


@dataclass(frozen=True)
class Session:
    token: str  # goes into an HttpOnly cookie
    csrf_token: str  # the page sends it back on every unsafe request
    expires_at: datetime


# Parameters live in the hash, so raising them later rehashes each password at its next sign-in.
_HASHER = PasswordHasher(type=Type.ID)
_DUMMY_HASHES: dict[tuple[int, int, int], str] = {}


def _now(now: datetime | None) -> datetime:
    moment = utc(now or datetime.now(UTC))
    assert moment is not None
    return moment


def _key() -> bytes:
    return get_settings().secret_key.get_secret_value().encode()


def _hash(password: str) -> str:
    return _HASHER.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_dummy(password: str) -> None:
    """Spend the time a real verification takes, so timing does not tell which logins exist."""
    params = (_HASHER.time_cost, _HASHER.memory_cost, _HASHER.parallelism)
    if params not in _DUMMY_HASHES:
        _DUMMY_HASHES[params] = _HASHER.hash(domain.new_token())
    _verify(_DUMMY_HASHES[params], password)


def _bookkeeping(engine: Engine, write: Callable[[Connection], T], attempts: int = 5) -> T:
    """Commit `write` on its own at once: it stays although the caller is then refused, and it
    never carries a request's idempotency record (see db.uow.commit_hook)."""
    for attempt in range(attempts):
        try:
            with UnitOfWork(engine) as uow:
                result = write(uow.c)
                uow.commit()
                return result
        except DBAPIError as error:
            if attempt + 1 >= attempts or not is_retryable(error):
                raise
    raise AssertionError("unreachable")


def _invalid_credentials() -> Unauthenticated:
    return Unauthenticated("invalid_credentials", "登录名或密码错误", "wrong login or password")


def _disabled() -> Unauthenticated:
    return Unauthenticated("account_disabled", "该账户已停用", "this account is disabled")


def _locked(until: datetime) -> RateLimited:
    return RateLimited(
        "account_locked",
        f"连续登录失败次数过多，账户已锁定至 {until.isoformat()}",
        f"too many failed sign-ins; the account is locked until {until.isoformat()}",
        locked_until=until.isoformat(),
    )


def _login_key(text: str) -> str:
    """Consumers sign in with their phone, written any way members accepts; operators by name."""
    try:
        return members_domain.normalise_phone(text)
    except InvalidInput:
        return str(text).strip().lower()


# -- who is calling --------------------------------------------------------------------------


def _principal(conn: Connection, user: Row | None) -> Principal:
    if user is None:
        raise domain.invalid_token()
    if user["disabled"]:
        raise _disabled()
    user_id, member_id = int(user["id"]), user["member_id"]
    owned, acting = repository.merchants_of(conn, int(member_id)) if member_id else (frozenset(), frozenset())
    return Principal(
        role=user["role"],
        user_id=user_id,
        member_id=None if member_id is None else int(member_id),
        merchant_ids=acting,
        owned_merchant_ids=owned,
        scope=f"user:{user_id}",
    )


def principal_for_user(engine: Engine, user_id: int) -> Principal:
    with reading(engine) as conn:
        user = repository.user(conn, user_id)
        if user is None:
            raise not_found("用户", "user", user_id)
        return _principal(conn, user)


# -- registration ----------------------------------------------------------------------------


def register_consumer(
    engine: Engine, *, phone: str, password: str, name: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """A consumer signs up: member, consumer, accounts and user, in one transaction."""
    moment = _now(now)
    number = members_domain.normalise_phone(phone)
    members_domain.clean_name(name, "姓名", "name", required=False)  # refuse before the slow hash
    domain.check_password(password, number)
    password_hash = _hash(password)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        # create_consumer refuses a phone any consumer has, with a user or not: a consumer the
        # operator registered is never taken over by whoever signs up with its phone.
        member_id = members.create_consumer(uow.c, phone=number, name=name, now=moment)
        user_id = repository.insert_user(
            uow.c, login=number, role="consumer", password_hash=password_hash, now=moment, member_id=member_id
        )
        uow.commit()
        return {"user_id": user_id, "member_id": member_id, "phone": number}

    try:
        return transaction(engine, work)
    except IntegrityError:
        raise members.phone_taken(number) from None


def _login_taken(login: str) -> Conflict:
    return Conflict("login_taken", f"登录名 {login} 已被使用", f"the login {login} is taken")


def create_operator(
    engine: Engine, *, login: str, password: str, role: str, now: datetime | None = None
) -> dict[str, Any]:
    moment = _now(now)
    name = domain.normalise_operator_login(login)
    domain.check_role(role)
    domain.check_password(password, name)
    password_hash = _hash(password)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        if repository.user_by_login(uow.c, name) is not None:
            raise _login_taken(name)
        user_id = repository.insert_user(
            uow.c, login=name, role=role, password_hash=password_hash, now=moment
        )
        uow.commit()
        return {"id": user_id, "login": name, "role": role, "created_at": moment}

    try:
        return transaction(engine, work)
    except IntegrityError:
        raise _login_taken(name) from None


# -- signing in ------------------------------------------------------------------------------


def _fail(engine: Engine, user_id: int, moment: datetime, error: Unauthenticated) -> NoReturn:
    settings = get_settings()

    def count(conn: Connection) -> datetime | None:
        failures = repository.count_failure(conn, user_id)
        until = domain.lock_after_failure(
            failures, settings.sign_in_max_failures, moment, settings.sign_in_lockout_minutes
        )
        if until is not None:
            # The lock starts a fresh count: once it ends, another run of failures locks again.
            repository.update_user(conn, user_id, failed_attempts=0, locked_until=until)
        return until

    until = _bookkeeping(engine, count)
    raise error if until is None else _locked(until)


def _check_credentials(
    engine: Engine, login: str, password: str, totp_code: str | None, moment: datetime
) -> tuple[Row, str | None, int | None]:
    """The user these credentials prove, a fresh hash if the stored one is outdated, and the
    TOTP step of the code given (claimed when the sign-in is recorded)."""
    if len(password) > domain.PASSWORD_MAX:  # no such password was ever accepted
        raise _invalid_credentials()
    with reading(engine) as conn:
        user = repository.user_by_login(conn, _login_key(login))
    if user is None:
        _verify_dummy(password)
        raise _invalid_credentials()
    until = utc(user["locked_until"])
    if until is not None and domain.is_locked(until, moment):
        raise _locked(until)
    if not _verify(user["password_hash"], password):
        _fail(engine, int(user["id"]), moment, _invalid_credentials())
    # Only someone who knows the password learns that the account is disabled.
    if user["disabled"]:
        raise _disabled()
    step = None
    if user["totp_enabled"]:
        if not totp_code:
            raise Unauthenticated("totp_required", "请输入两步验证码", "enter your TOTP code")
        step = domain.totp_step(user["totp_secret"], totp_code, moment)
        if step is None:
            _fail(
                engine,
                int(user["id"]),
                moment,
                Unauthenticated("totp_invalid", "两步验证码错误", "wrong TOTP code"),
            )
    rehash = _hash(password) if _HASHER.check_needs_rehash(user["password_hash"]) else None
    return user, rehash, step


def _signed_in(conn: Connection, user_id: int, moment: datetime, rehash: str | None, step: int | None) -> Row:
    """Reset the failure count and note the sign-in; the row re-read here decides the role."""
    if step is not None and not repository.claim_totp_step(conn, user_id, step):
        # Someone who watched the code being typed cannot sign in with it in the same 90 s.
        raise Unauthenticated(
            "totp_replayed",
            "该验证码已使用过，请等待下一个验证码",
            "this code was already used: wait for the next one",
        )
    values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None, "last_sign_in_at": moment}
    if rehash is not None:
        values["password_hash"] = rehash
    repository.update_user(conn, user_id, **values)
    user = repository.user(conn, user_id)
    if user is None or user["disabled"]:  # disabled between the check and now
        raise _disabled()
    return user


def _issue_tokens(conn: Connection, user: Row, moment: datetime, family: str) -> Tokens:
    settings = get_settings()
    refresh_token = domain.new_token()
    repository.insert_refresh_token(
        conn,
        user_id=int(user["id"]),
        token_hash=domain.digest(refresh_token),
        family=family,
        now=moment,
        expires_at=moment + timedelta(days=settings.refresh_token_days),
    )
    claims = domain.access_claims(
        user_id=int(user["id"]),
        role=user["role"],
        now=moment,
        minutes=settings.access_token_minutes,
        jti=domain.new_id(),
    )
    return Tokens(
        domain.encode_token(claims, _key()), refresh_token, "Bearer", settings.access_token_minutes * 60
    )


def sign_in(
    engine: Engine, *, login: str, password: str, totp_code: str | None = None, now: datetime | None = None
) -> Tokens:
    moment = _now(now)
    found, rehash, step = _check_credentials(engine, login, password, totp_code, moment)

    def work(uow: UnitOfWork) -> Tokens:
        user = _signed_in(uow.c, int(found["id"]), moment, rehash, step)
        tokens = _issue_tokens(uow.c, user, moment, domain.new_id())
        uow.commit()
        return tokens

    return transaction(engine, work)


class _Reused(Exception):
    def __init__(self, family: str) -> None:
        super().__init__(family)
        self.family = family


def refresh(engine: Engine, refresh_token: str, now: datetime | None = None) -> Tokens:
    """A new pair for a refresh token, which then is used up; using it again revokes its family,
    since one of the two users of that token is a thief (and we cannot tell which)."""
    moment = _now(now)
    token_hash = domain.digest(refresh_token)

    def work(uow: UnitOfWork) -> Tokens:
        row = repository.refresh_token(uow.c, token_hash)
        if row is None or row["revoked_at"] is not None:
            raise domain.invalid_token()
        if row["used_at"] is not None:
            raise _Reused(row["family"])
        expires_at = utc(row["expires_at"])
        if expires_at is None or expires_at <= moment:
            raise Unauthenticated(
                "token_expired", "刷新令牌已过期，请重新登录", "the refresh token has expired"
            )
        if not repository.use_refresh_token(uow.c, int(row["id"]), moment):
            raise _Reused(row["family"])  # a concurrent rotation used it first
        user = repository.user(uow.c, int(row["user_id"]))
        if user is None or user["disabled"]:
            raise _disabled()
        tokens = _issue_tokens(uow.c, user, moment, row["family"])
        uow.commit()
        return tokens

    try:
        return transaction(engine, work)
    except _Reused as reused:
        family = reused.family
        _bookkeeping(engine, lambda conn: repository.revoke_family(conn, family, moment))
        raise Unauthenticated(
            "refresh_token_reused",
            "刷新令牌已被使用过，为安全起见本次登录已全部注销，请重新登录",
            "the refresh token was already used; this sign-in is revoked everywhere, sign in again",
        ) from None


def sign_out(engine: Engine, refresh_token: str, now: datetime | None = None) -> None:
    """Revoke the token's whole family; an unknown token is already as good as signed out."""
    moment = _now(now)
    token_hash = domain.digest(refresh_token)

    def work(uow: UnitOfWork) -> None:
        row = repository.refresh_token(uow.c, token_hash)
        if row is not None:
            repository.revoke_family(uow.c, row["family"], moment)
        uow.commit()

    transaction(engine, work)


def authenticate_access_token(engine: Engine, token: str, now: datetime | None = None) -> Principal:
    claims = domain.decode_access_token(token, _key(), _now(now))
    with reading(engine) as conn:
        return _principal(conn, repository.user(conn, int(claims["sub"])))


# -- web sessions ----------------------------------------------------------------------------


def open_session(
    engine: Engine, *, login: str, password: str, totp_code: str | None = None, now: datetime | None = None
) -> Session:
    moment = _now(now)
    found, rehash, step = _check_credentials(engine, login, password, totp_code, moment)
    session = Session(
        domain.new_token(), domain.new_token(), moment + timedelta(hours=get_settings().session_hours)
    )

    def work(uow: UnitOfWork) -> Session:
        user = _signed_in(uow.c, int(found["id"]), moment, rehash, step)
        repository.insert_session(
            uow.c,
            user_id=int(user["id"]),
            token_hash=domain.digest(session.token),
            csrf_token=session.csrf_token,
            now=moment,
            expires_at=session.expires_at,
        )
        uow.commit()
        return session

    return transaction(engine, work)


def authenticate_session(engine: Engine, token: str, now: datetime | None = None) -> tuple[Principal, str]:
    """(who holds this session cookie, the CSRF token its pages must send back)."""
    moment = _now(now)
    with reading(engine) as conn:
        row = repository.session(conn, domain.digest(token))
        if row is None or row["revoked_at"] is not None:
            raise Unauthenticated(
                "invalid_session", "会话无效，请重新登录", "the session is invalid; sign in again"
            )
        expires_at = utc(row["expires_at"])
        if expires_at is None or expires_at <= moment:
            raise Unauthenticated(
                "session_expired", "会话已过期，请重新登录", "the session has expired; sign in again"
            )
        return _principal(conn, repository.user(conn, int(row["user_id"]))), str(row["csrf_token"])


def close_session(engine: Engine, token: str, now: datetime | None = None) -> None:
    moment = _now(now)

    def work(uow: UnitOfWork) -> None:
        repository.revoke_session(uow.c, domain.digest(token), moment)
        uow.commit()

    transaction(engine, work)


# -- merchants' POS API keys -----------------------------------------------------------------


def _key_view(row: Row) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "prefix": row["prefix"],
        "name": row["name"],
        "created_by": row["created_by"],
        "created_at": utc(row["created_at"]),
        "last_used_at": utc(row["last_used_at"]),
        "revoked_at": utc(row["revoked_at"]),
    }


def create_api_key(
    engine: Engine, merchant_id: int, *, name: str, created_by: int | None, now: datetime | None = None
) -> dict[str, Any]:
    """A new key for a merchant's tills; the plaintext is in this answer and nowhere else."""
    moment = _now(now)
    label = domain.clean_key_name(name)
    key = domain.new_api_key()

    def work(uow: UnitOfWork) -> dict[str, Any]:
        merchant = members_repository.merchant(uow.c, merchant_id)
        if merchant["status"] == "closed":
            raise Refused(
                "merchant_closed", f"商家 {merchant_id} 已关闭", f"merchant {merchant_id} is closed"
            )
        key_id = repository.insert_api_key(
            uow.c,
            merchant_id=merchant_id,
            prefix=key.prefix,
            secret_hash=domain.digest(key.secret),
            name=label,
            created_by=created_by,
            now=moment,
        )
        uow.commit()
        return {"id": key_id, "prefix": key.prefix, "key": key.key, "name": label, "created_at": moment}

    return transaction(engine, work)


def list_api_keys(engine: Engine, merchant_id: int) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        members_repository.merchant(conn, merchant_id)
        return [_key_view(row) for row in repository.api_keys_of(conn, merchant_id)]


def revoke_api_key(
    engine: Engine, merchant_id: int, key_id: int, now: datetime | None = None
) -> dict[str, Any]:
    """Revoke one of the merchant's keys; revoking it again changes nothing."""
    moment = _now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        if repository.api_key(uow.c, merchant_id, key_id) is None:
            raise not_found("API 密钥", "api key", key_id)
        repository.revoke_api_key(uow.c, key_id, moment)
        row = repository.api_key(uow.c, merchant_id, key_id)
        uow.commit()
        assert row is not None
        return _key_view(row)

    return transaction(engine, work)


def authenticate_api_key(engine: Engine, key: str, now: datetime | None = None) -> Principal:
    moment = _now(now)
    parsed = domain.parse_api_key(key)
    with reading_one(engine) as conn:
        row = repository.api_key_by_prefix(conn, parsed.prefix)
    if row is None or not hmac.compare_digest(row["secret_hash"], domain.digest(parsed.secret)):
        raise domain.invalid_api_key()
    if row["revoked_at"] is not None:
        raise Unauthenticated("api_key_revoked", "该 API 密钥已吊销", "this API key has been revoked")
    key_id, recent = int(row["id"]), moment - timedelta(minutes=1)
    last_used = utc(row["last_used_at"])
    if last_used is None or last_used < recent:
        _bookkeeping(engine, lambda conn: repository.touch_api_key(conn, key_id, moment, recent))
    return Principal(
        role="pos",
        merchant_ids=frozenset({int(row["merchant_id"])}),
        api_key_id=key_id,
        scope=f"key:{key_id}",
    )


# -- TOTP ------------------------------------------------------------------------------------


def _user(conn: Connection, user_id: int) -> Row:
    user = repository.user(conn, user_id)
    if user is None:
        raise not_found("用户", "user", user_id)
    return user


def _totp_invalid() -> InvalidInput:
    return InvalidInput("totp_invalid", "两步验证码错误", "wrong TOTP code")


def begin_totp(engine: Engine, user_id: int) -> dict[str, Any]:
    """A new secret for the user's authenticator; it counts only once a code confirms it."""
    secret = domain.new_totp_secret()

    def work(uow: UnitOfWork) -> dict[str, Any]:
        user = _user(uow.c, user_id)
        if user["totp_enabled"]:
            # Replacing a live secret needs a code: disable first.
            raise Conflict("totp_already_enabled", "两步验证已启用", "TOTP is already enabled")
        repository.update_user(uow.c, user_id, totp_secret=secret)
        uow.commit()
        return {"secret": secret, "otpauth_uri": domain.otpauth_uri(secret, user["login"])}

    return transaction(engine, work)


def confirm_totp(engine: Engine, user_id: int, code: str, now: datetime | None = None) -> None:
    moment = _now(now)

    def work(uow: UnitOfWork) -> None:
        user = _user(uow.c, user_id)
        if user["totp_enabled"]:
            raise Conflict("totp_already_enabled", "两步验证已启用", "TOTP is already enabled")
        if not user["totp_secret"]:
            raise Refused("totp_not_started", "请先开始设置两步验证", "start the TOTP set-up first")
        step = domain.totp_step(user["totp_secret"], code, moment)
        if step is None:
            raise _totp_invalid()
        # The confirming code counts as used: it cannot then open a session as well.
        repository.update_user(uow.c, user_id, totp_enabled=True, totp_last_step=step)
        uow.commit()

    transaction(engine, work)


def disable_totp(engine: Engine, user_id: int, code: str, now: datetime | None = None) -> None:
    moment = _now(now)

    def work(uow: UnitOfWork) -> None:
        user = _user(uow.c, user_id)
        if not user["totp_enabled"]:
            raise Refused("totp_not_enabled", "两步验证未启用", "TOTP is not enabled")
        if not domain.verify_totp(user["totp_secret"], code, moment):
            raise _totp_invalid()
        repository.update_user(uow.c, user_id, totp_enabled=False, totp_secret=None, totp_last_step=None)
        uow.commit()

    transaction(engine, work)


# -- operators' administration of users (CLI) ------------------------------------------------


def _user_view(row: Row) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "login": row["login"],
        "role": row["role"],
        "member_id": row["member_id"],
        "disabled": bool(row["disabled"]),
        "locked_until": utc(row["locked_until"]),
        "totp_enabled": bool(row["totp_enabled"]),
        "created_at": utc(row["created_at"]),
        "last_sign_in_at": utc(row["last_sign_in_at"]),
    }


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        return [_user_view(row) for row in repository.all_users(conn)]


def _user_by_login(conn: Connection, login: str) -> Row:
    user = repository.user_by_login(conn, _login_key(login))
    if user is None:
        raise not_found("用户", "user", login)
    return user


def disable_user(engine: Engine, login: str, now: datetime | None = None) -> dict[str, Any]:
    """Disable a user and end its refresh tokens and sessions; access tokens die at their next use."""
    moment = _now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        user_id = int(_user_by_login(uow.c, login)["id"])
        repository.update_user(uow.c, user_id, disabled=True)
        repository.revoke_user_tokens(uow.c, user_id, moment)
        view = _user_view(_user(uow.c, user_id))
        uow.commit()
        return view

    return transaction(engine, work)


def unlock_user(engine: Engine, login: str) -> dict[str, Any]:
    """Lift a sign-in lock-out before its time and clear the failure count."""

    def work(uow: UnitOfWork) -> dict[str, Any]:
        user_id = int(_user_by_login(uow.c, login)["id"])
        repository.update_user(uow.c, user_id, failed_attempts=0, locked_until=None)
        view = _user_view(_user(uow.c, user_id))
        uow.commit()
        return view

    return transaction(engine, work)
