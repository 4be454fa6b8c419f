"""Identity through the service, on SQLite and PostgreSQL: registration, sign-in and lock-out,
token rotation, sessions, POS keys, TOTP, and merchants appearing and disappearing from a
principal as staff are added and removed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from sharebuy.cli import output
from sharebuy.cli.main import app
from sharebuy.identity import domain
from sharebuy.identity import service as identity
from sharebuy.identity.models import api_keys, users
from sharebuy.kernel.errors import Conflict, InvalidInput, NotFound, RateLimited, Refused, Unauthenticated
from sharebuy.members import service as members
from sharebuy.rewards import platform_service
from sharebuy.settings import get_settings
from tests.integration.world import START, build

PASSWORD = "correct horse 42"
T0 = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest: the tests exercise the rules, not the work factor."""
    monkeypatch.setattr(
        identity, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    )


def _platform(engine: Engine) -> None:
    platform_service.initialise(engine, start_day=START)


def _consumer(engine: Engine, phone: str = "13900000001") -> dict[str, object]:
    return identity.register_consumer(engine, phone=phone, password=PASSWORD, name="甲", now=T0)


def _user_row(engine: Engine, login: str) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(conn.execute(select(users).where(users.c.login == login)).mappings().one())


def _refused(error: type[Exception], call: object) -> str:
    with pytest.raises(error) as caught:
        call()
    return caught.value.code  # type: ignore[attr-defined,no-any-return]


# -- registration and the round trip ----------------------------------------------------------


def test_register_sign_in_and_authenticate(engine: Engine) -> None:
    _platform(engine)
    registered = identity.register_consumer(
        engine, phone="+86 139-0000-0001", password=PASSWORD, name="甲", now=T0
    )
    assert registered["phone"] == "13900000001"
    tokens = identity.sign_in(engine, login="+86 13900000001", password=PASSWORD, now=T0)
    assert tokens.token_type == "Bearer" and tokens.expires_in == get_settings().access_token_minutes * 60
    principal = identity.authenticate_access_token(engine, tokens.access_token, now=T0)
    assert principal == identity.Principal(
        role="consumer",
        user_id=registered["user_id"],  # type: ignore[arg-type]
        member_id=registered["member_id"],  # type: ignore[arg-type]
        scope=f"user:{registered['user_id']}",
    )
    assert not principal.is_operator
    assert identity.principal_for_user(engine, registered["user_id"]) == principal  # type: ignore[arg-type]
    row = _user_row(engine, "13900000001")
    assert row["password_hash"].startswith("$argon2id$")  # type: ignore[union-attr]
    assert PASSWORD not in json.dumps(row, default=str)
    assert row["last_sign_in_at"] is not None


def test_registration_refuses_bad_phones_weak_passwords_and_taken_phones(engine: Engine) -> None:
    _platform(engine)
    assert _refused(InvalidInput, lambda: _consumer(engine, "12345")) == "invalid_phone"
    weak = lambda: identity.register_consumer(engine, phone="13900000001", password="1234567")  # noqa: E731
    assert _refused(InvalidInput, weak) == "password_too_short"
    _consumer(engine)
    assert _refused(Conflict, lambda: _consumer(engine, "139 0000 0001")) == "phone_taken"


def test_a_consumer_the_operator_created_cannot_be_taken_over(engine: Engine) -> None:
    _platform(engine)
    members.add_consumer(engine, phone="13900000002")
    assert _refused(Conflict, lambda: _consumer(engine, "13900000002")) == "phone_taken"
    with engine.connect() as conn:
        assert conn.execute(select(users)).first() is None  # nothing half-written


def test_add_consumer_keeps_its_behaviour(engine: Engine) -> None:
    _platform(engine)
    member_id = members.add_consumer(engine, phone="+8613900000003", name="  乙  ")
    assert _refused(Conflict, lambda: members.add_consumer(engine, phone="13900000003")) == "phone_taken"
    assert isinstance(member_id, int)


def test_operators(engine: Engine) -> None:
    created = identity.create_operator(engine, login="Root.Admin", password=PASSWORD, role="admin", now=T0)
    assert created["login"] == "root.admin" and created["role"] == "admin"
    tokens = identity.sign_in(engine, login="ROOT.admin", password=PASSWORD, now=T0)
    principal = identity.authenticate_access_token(engine, tokens.access_token, now=T0)
    assert principal.role == "admin" and principal.is_operator and principal.member_id is None
    assert principal.merchant_ids == frozenset()
    again = lambda: identity.create_operator(engine, login="root.admin", password=PASSWORD, role="auditor")  # noqa: E731
    assert _refused(Conflict, again) == "login_taken"
    wrong_role = lambda: identity.create_operator(engine, login="bob", password=PASSWORD, role="consumer")  # noqa: E731
    assert _refused(InvalidInput, wrong_role) == "invalid_role"
    digits = lambda: identity.create_operator(engine, login="13900000009", password=PASSWORD, role="admin")  # noqa: E731
    assert _refused(InvalidInput, digits) == "invalid_login"
    same = lambda: identity.create_operator(engine, login="carol.admin", password="Carol.Admin", role="admin")  # noqa: E731
    assert _refused(InvalidInput, same) == "password_is_login"
    assert _refused(NotFound, lambda: identity.principal_for_user(engine, 999)) == "user_not_found"


# -- sign-in and lock-out ----------------------------------------------------------------------


def test_wrong_password_and_unknown_login_look_the_same(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="auditor")
    wrong = lambda: identity.sign_in(engine, login="alice", password="not the password")  # noqa: E731
    unknown = lambda: identity.sign_in(engine, login="nobody", password=PASSWORD)  # noqa: E731
    assert _refused(Unauthenticated, wrong) == _refused(Unauthenticated, unknown) == "invalid_credentials"
    too_long = lambda: identity.sign_in(engine, login="alice", password="x" * 10_000)  # noqa: E731
    assert _refused(Unauthenticated, too_long) == "invalid_credentials"


def test_lock_out_after_consecutive_failures_and_unlock_after_the_time(engine: Engine) -> None:
    settings = get_settings()
    limit, minutes = settings.sign_in_max_failures, settings.sign_in_lockout_minutes
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")

    def attempt(password: str, at: datetime) -> identity.Tokens:
        return identity.sign_in(engine, login="alice", password=password, now=at)

    # A success resets the count: limit − 1 failures, a success, limit − 1 failures do not lock.
    for _ in range(2):
        for _ in range(limit - 1):
            assert _refused(Unauthenticated, lambda: attempt("wrong password", T0)) == "invalid_credentials"
        attempt(PASSWORD, T0)
    assert _user_row(engine, "alice")["failed_attempts"] == 0

    for _ in range(limit - 1):
        _refused(Unauthenticated, lambda: attempt("wrong password", T0))
    with pytest.raises(RateLimited) as caught:
        attempt("wrong password", T0)
    until = T0 + timedelta(minutes=minutes)
    assert caught.value.code == "account_locked"
    assert caught.value.details["locked_until"] == until.isoformat()
    # Locked: even the right password is refused until the time is up.
    almost = until - timedelta(seconds=1)
    assert _refused(RateLimited, lambda: attempt(PASSWORD, almost)) == "account_locked"
    attempt(PASSWORD, until)
    row = _user_row(engine, "alice")
    assert row["failed_attempts"] == 0 and row["locked_until"] is None


def test_operator_unlocks_a_locked_account(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    for _ in range(get_settings().sign_in_max_failures):
        with pytest.raises((Unauthenticated, RateLimited)):
            identity.sign_in(engine, login="alice", password="wrong password", now=T0)
    assert _refused(RateLimited, lambda: identity.sign_in(engine, login="alice", password=PASSWORD, now=T0))
    unlocked = identity.unlock_user(engine, "alice")
    assert unlocked["locked_until"] is None
    identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    assert _refused(NotFound, lambda: identity.unlock_user(engine, "nobody")) == "user_not_found"


def test_disabled_users_lose_every_way_in(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    tokens = identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    session = identity.open_session(engine, login="alice", password=PASSWORD, now=T0)
    assert identity.disable_user(engine, "alice", now=T0)["disabled"] is True
    assert _refused(Unauthenticated, lambda: identity.sign_in(engine, login="alice", password=PASSWORD)) == (
        "account_disabled"
    )
    # A wrong password does not learn that the account is disabled.
    assert _refused(
        Unauthenticated, lambda: identity.sign_in(engine, login="alice", password="wrong pw!")
    ) == ("invalid_credentials")
    assert _refused(
        Unauthenticated, lambda: identity.authenticate_access_token(engine, tokens.access_token, T0)
    )
    assert _refused(Unauthenticated, lambda: identity.refresh(engine, tokens.refresh_token, T0))
    assert _refused(Unauthenticated, lambda: identity.authenticate_session(engine, session.token, T0))


def test_outdated_hashes_are_upgraded_at_sign_in(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    old = _user_row(engine, "alice")["password_hash"]
    assert "t=1" in old
    monkeypatch.setattr(
        identity, "_HASHER", PasswordHasher(time_cost=2, memory_cost=16, parallelism=1, type=Type.ID)
    )
    identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    new = _user_row(engine, "alice")["password_hash"]
    assert new != old and "m=16,t=2" in new
    identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    assert _user_row(engine, "alice")["password_hash"] == new


# -- tokens ----------------------------------------------------------------------------------


def test_access_tokens_expire_and_garbage_is_refused(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    tokens = identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    later = T0 + timedelta(seconds=tokens.expires_in)
    assert _refused(
        Unauthenticated, lambda: identity.authenticate_access_token(engine, tokens.access_token, later)
    ) == ("token_expired")
    for garbage in ("", "abc", tokens.access_token + "x", tokens.refresh_token):
        assert _refused(Unauthenticated, lambda: identity.authenticate_access_token(engine, garbage, T0)) == (  # noqa: B023
            "invalid_token"
        )


def test_refresh_rotates_and_reuse_revokes_the_family(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    first = identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    other_sign_in = identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    second = identity.refresh(engine, first.refresh_token, now=T0 + timedelta(minutes=1))
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    assert identity.authenticate_access_token(engine, second.access_token, T0).user_id is not None
    third = identity.refresh(engine, second.refresh_token, now=T0 + timedelta(minutes=2))

    # The first token again: a thief or a replay.  The whole family goes, including `third`.
    with pytest.raises(Unauthenticated) as caught:
        identity.refresh(engine, first.refresh_token, now=T0 + timedelta(minutes=3))
    assert caught.value.code == "refresh_token_reused"
    assert (
        _refused(Unauthenticated, lambda: identity.refresh(engine, third.refresh_token, T0))
        == "invalid_token"
    )
    # Another sign-in (another family) is untouched.
    identity.refresh(engine, other_sign_in.refresh_token, now=T0 + timedelta(minutes=3))
    assert _refused(Unauthenticated, lambda: identity.refresh(engine, "not a token", T0)) == "invalid_token"


def test_refresh_tokens_expire(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    tokens = identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    later = T0 + timedelta(days=get_settings().refresh_token_days)
    assert (
        _refused(Unauthenticated, lambda: identity.refresh(engine, tokens.refresh_token, later))
        == "token_expired"
    )


def test_sign_out_revokes_the_family(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    first = identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    second = identity.refresh(engine, first.refresh_token, now=T0)
    identity.sign_out(engine, first.refresh_token, now=T0)
    assert (
        _refused(Unauthenticated, lambda: identity.refresh(engine, second.refresh_token, T0))
        == "invalid_token"
    )
    identity.sign_out(engine, "unknown token", now=T0)  # nothing to do, nothing said


# -- web sessions ----------------------------------------------------------------------------


def test_sessions_open_authenticate_expire_and_close(engine: Engine) -> None:
    identity.create_operator(engine, login="alice", password=PASSWORD, role="auditor")
    session = identity.open_session(engine, login="alice", password=PASSWORD, now=T0)
    assert session.expires_at == T0 + timedelta(hours=get_settings().session_hours)
    assert session.token != session.csrf_token
    principal, csrf = identity.authenticate_session(engine, session.token, now=T0)
    assert principal.role == "auditor" and csrf == session.csrf_token
    expired = lambda: identity.authenticate_session(engine, session.token, session.expires_at)  # noqa: E731
    assert _refused(Unauthenticated, expired) == "session_expired"
    identity.close_session(engine, session.token, now=T0)
    assert _refused(Unauthenticated, lambda: identity.authenticate_session(engine, session.token, T0)) == (
        "invalid_session"
    )
    wrong = lambda: identity.open_session(engine, login="alice", password="wrong password")  # noqa: E731
    assert _refused(Unauthenticated, wrong) == "invalid_credentials"


# -- merchants: owners, staff, POS keys --------------------------------------------------------


def test_staff_membership_follows_the_database_at_every_authentication(engine: Engine) -> None:
    world = build(engine, consumers=0)
    staff = _consumer(engine, "13700000001")
    tokens = identity.sign_in(engine, login="13700000001", password=PASSWORD, now=T0)
    assert identity.authenticate_access_token(engine, tokens.access_token, T0).merchant_ids == frozenset()

    members.add_staff(engine, world.merchant, staff["member_id"])  # type: ignore[arg-type]
    principal = identity.authenticate_access_token(engine, tokens.access_token, T0)
    assert principal.merchant_ids == {world.merchant} and principal.owned_merchant_ids == frozenset()

    members.remove_staff(engine, world.merchant, staff["member_id"])  # type: ignore[arg-type]
    assert identity.authenticate_access_token(engine, tokens.access_token, T0).merchant_ids == frozenset()
    gone = lambda: members.remove_staff(engine, world.merchant, staff["member_id"])  # type: ignore[arg-type]  # noqa: E731
    assert _refused(NotFound, gone) == "staff_not_found"

    # The owner registered through the operator; a user for it is created here directly.
    with engine.begin() as conn:
        conn.execute(
            users.insert().values(
                login="owner.user",
                member_id=world.owner,
                role="consumer",
                password_hash=identity._hash(PASSWORD),
                created_at=T0,
            )
        )
    owner_tokens = identity.sign_in(engine, login="owner.user", password=PASSWORD, now=T0)
    owner = identity.authenticate_access_token(engine, owner_tokens.access_token, T0)
    assert owner.owned_merchant_ids == owner.merchant_ids == {world.merchant}


def test_api_keys(engine: Engine) -> None:
    world = build(engine, consumers=0)
    created = identity.create_api_key(engine, world.merchant, name=" 收银台 1 ", created_by=None, now=T0)
    assert created["name"] == "收银台 1" and created["key"].startswith(f"sbk_{created['prefix']}_")
    with engine.connect() as conn:
        stored = conn.execute(select(api_keys.c.secret_hash)).scalar_one()
    assert created["key"].split("_", 2)[2] not in stored

    listed = identity.list_api_keys(engine, world.merchant)
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and "secret_hash" not in listed[0]
    assert created["key"] not in json.dumps(listed, default=str)

    principal = identity.authenticate_api_key(engine, created["key"], now=T0)
    assert principal == identity.Principal(
        role="pos",
        merchant_ids=frozenset({world.merchant}),
        api_key_id=created["id"],
        scope=f"key:{created['id']}",
    )
    forged = created["key"][:-3] + ("aaa" if not created["key"].endswith("aaa") else "bbb")
    assert (
        _refused(Unauthenticated, lambda: identity.authenticate_api_key(engine, forged, T0))
        == "invalid_api_key"
    )
    assert _refused(Unauthenticated, lambda: identity.authenticate_api_key(engine, "sbk_nope", T0)) == (
        "invalid_api_key"
    )

    other = build_other_merchant(engine, world.owner)
    assert (
        _refused(NotFound, lambda: identity.revoke_api_key(engine, other, created["id"]))
        == "api_key_not_found"
    )
    revoked = identity.revoke_api_key(engine, world.merchant, created["id"], now=T0)
    assert revoked["revoked_at"] == T0
    assert (
        identity.revoke_api_key(engine, world.merchant, created["id"])["revoked_at"] == T0
    )  # again: no change
    assert _refused(Unauthenticated, lambda: identity.authenticate_api_key(engine, created["key"], T0)) == (
        "api_key_revoked"
    )


def build_other_merchant(engine: Engine, owner: int) -> int:
    merchant = members.add_merchant(engine, name="另一家", owner_id=owner, region="441900", rate="0.10")
    members.approve_merchant(engine, merchant)
    return merchant


def test_api_key_use_is_recorded_at_most_once_a_minute(engine: Engine) -> None:
    world = build(engine, consumers=0)
    key = identity.create_api_key(engine, world.merchant, name="till", created_by=None, now=T0)

    def last_used() -> object:
        return identity.list_api_keys(engine, world.merchant)[0]["last_used_at"]

    assert last_used() is None
    identity.authenticate_api_key(engine, key["key"], now=T0)
    assert last_used() == T0
    identity.authenticate_api_key(engine, key["key"], now=T0 + timedelta(seconds=59))
    assert last_used() == T0
    identity.authenticate_api_key(engine, key["key"], now=T0 + timedelta(seconds=61))
    assert last_used() == T0 + timedelta(seconds=61)


def test_api_keys_need_a_merchant_that_is_open(engine: Engine) -> None:
    world = build(engine, consumers=0)
    create = lambda merchant: identity.create_api_key(engine, merchant, name="till", created_by=None)  # noqa: E731
    assert _refused(NotFound, lambda: create(999)) == "merchant_not_found"
    assert _refused(NotFound, lambda: identity.list_api_keys(engine, 999)) == "merchant_not_found"
    assert _refused(
        InvalidInput, lambda: identity.create_api_key(engine, world.merchant, name=" ", created_by=None)
    )
    members.set_merchant_status(engine, world.merchant, "closed", reason="closed")
    assert _refused(Refused, lambda: create(world.merchant)) == "merchant_closed"


# -- TOTP ------------------------------------------------------------------------------------


def _code_at(secret: str, moment: datetime) -> str:
    return domain.totp(domain.totp_key(secret), int(moment.timestamp()))


def test_totp_set_up_sign_in_and_disable(engine: Engine) -> None:
    created = identity.create_operator(engine, login="alice", password=PASSWORD, role="admin")
    user_id = created["id"]
    setup = identity.begin_totp(engine, user_id)
    secret = setup["secret"]
    assert setup["otpauth_uri"].startswith("otpauth://totp/Sharebuy%3Aalice?secret=" + secret)
    # Not enabled until confirmed: signing in needs no code yet.
    identity.sign_in(engine, login="alice", password=PASSWORD, now=T0)
    wrong = "000000" if _code_at(secret, T0) != "000000" else "111111"
    assert (
        _refused(InvalidInput, lambda: identity.confirm_totp(engine, user_id, wrong, now=T0))
        == "totp_invalid"
    )
    identity.confirm_totp(engine, user_id, _code_at(secret, T0), now=T0)
    assert _refused(Conflict, lambda: identity.begin_totp(engine, user_id)) == "totp_already_enabled"

    def sign_in(code: str | None, at: datetime = T0) -> identity.Tokens:
        return identity.sign_in(engine, login="alice", password=PASSWORD, totp_code=code, now=at)

    assert _refused(Unauthenticated, lambda: sign_in(None)) == "totp_required"
    assert _refused(Unauthenticated, lambda: sign_in(wrong)) == "totp_invalid"
    assert _user_row(engine, "alice")["failed_attempts"] == 1  # a wrong code counts as a failure
    # The confirming code is used up: it opens no session, in its own step or the next.
    assert _refused(Unauthenticated, lambda: sign_in(_code_at(secret, T0))) == "totp_replayed"
    later = T0 + timedelta(seconds=60)
    sign_in(_code_at(secret, later - timedelta(seconds=30)), at=later)  # one step of drift
    # Each code once (RFC 6238 §5.2): replayed, or older than the last one used, it is refused.
    replay = _code_at(secret, later - timedelta(seconds=30))
    assert _refused(Unauthenticated, lambda: sign_in(replay, at=later)) == "totp_replayed"
    session = lambda code: identity.open_session(  # noqa: E731
        engine, login="alice", password=PASSWORD, totp_code=code, now=later
    )
    assert _refused(Unauthenticated, lambda: session(None)) == "totp_required"
    session(_code_at(secret, later))
    assert _refused(Unauthenticated, lambda: session(_code_at(secret, later))) == "totp_replayed"
    assert _user_row(engine, "alice")["totp_last_step"] == int(later.timestamp()) // 30

    assert (
        _refused(InvalidInput, lambda: identity.disable_totp(engine, user_id, wrong, now=T0))
        == "totp_invalid"
    )
    identity.disable_totp(engine, user_id, _code_at(secret, T0), now=T0)
    sign_in(None)
    assert (
        _refused(Refused, lambda: identity.disable_totp(engine, user_id, "123456", now=T0))
        == "totp_not_enabled"
    )
    assert (
        _refused(Refused, lambda: identity.confirm_totp(engine, user_id, "123456", now=T0))
        == "totp_not_started"
    )


def test_one_code_racing_twice_opens_one_session(engine: Engine) -> None:
    user_id = identity.create_operator(engine, login="bob", password=PASSWORD, role="admin")["id"]
    secret = identity.begin_totp(engine, user_id)["secret"]
    identity.confirm_totp(engine, user_id, _code_at(secret, T0), now=T0)
    later = T0 + timedelta(seconds=90)
    code = _code_at(secret, later)
    barrier = threading.Barrier(4)

    def attempt() -> str:
        barrier.wait()
        try:
            identity.sign_in(engine, login="bob", password=PASSWORD, totp_code=code, now=later)
        except Unauthenticated as error:
            return error.code
        return "signed_in"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: attempt(), range(4)))
    assert outcomes == ["signed_in", "totp_replayed", "totp_replayed", "totp_replayed"]


def test_consumers_may_use_totp_too(engine: Engine) -> None:
    _platform(engine)
    registered = _consumer(engine)
    secret = identity.begin_totp(engine, registered["user_id"])["secret"]  # type: ignore[arg-type]
    identity.confirm_totp(engine, registered["user_id"], _code_at(secret, T0), now=T0)  # type: ignore[arg-type]
    assert _refused(
        Unauthenticated, lambda: identity.sign_in(engine, login="13900000001", password=PASSWORD)
    ) == ("totp_required")


# -- the operator CLI ------------------------------------------------------------------------


Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run_cli(engine: Engine) -> Iterator[Run]:
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> tuple[int, dict[str, object]]:
        try:
            result = runner.invoke(app, ["--db", url, *args, "--json"], input=stdin)
        finally:
            if output.STATE._engine is not None:
                output.STATE._engine.dispose()
            output.STATE.db, output.STATE.json, output.STATE._engine = None, False, None
        text = result.stdout.strip()
        return result.exit_code, json.loads(text) if text else {}

    yield run


def test_cli_user_commands(engine: Engine, run_cli: Run) -> None:
    run = run_cli
    code, added = run(
        "user", "add", "--login", "ops", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0 and added["login"] == "ops" and added["role"] == "admin"
    identity.sign_in(engine, login="ops", password=PASSWORD, now=T0)
    code, listed = run("user", "list")
    assert code == 0 and [u["login"] for u in listed["users"]] == ["ops"]
    assert "password_hash" not in json.dumps(listed)
    code, unlocked = run("user", "unlock", "ops")
    assert code == 0 and unlocked["locked_until"] is None
    code, disabled = run("user", "disable", "ops")
    assert code == 0 and disabled["disabled"] is True
    assert _refused(Unauthenticated, lambda: identity.sign_in(engine, login="ops", password=PASSWORD)) == (
        "account_disabled"
    )
    # Without --password-stdin and without a terminal there is no way to give a password.
    code, _ = run("user", "add", "--login", "ops2", "--role", "auditor")
    assert code != 0
