"""Pure identity rules: access tokens, TOTP (RFC 6238 vectors), password policy, API keys."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharebuy.identity import domain
from sharebuy.kernel.errors import InvalidInput, Unauthenticated

KEY = b"k" * 32
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _token(now: datetime = NOW, minutes: int = 15, **changes: object) -> str:
    claims = domain.access_claims(user_id=7, role="admin", now=now, minutes=minutes, jti="j1")
    claims.update(changes)
    return domain.encode_token(claims, KEY)


def _code(call: object) -> str:
    with pytest.raises(Unauthenticated) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


# -- access tokens ---------------------------------------------------------------------------


def test_token_round_trip_carries_the_claims() -> None:
    token = _token()
    assert token.count(".") == 2
    claims = domain.decode_access_token(token, KEY, NOW + timedelta(minutes=14))
    assert claims["sub"] == "7" and claims["role"] == "admin" and claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60
    header = json.loads(domain.b64url_decode(token.split(".")[0]))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_token_signature_is_standard_hs256() -> None:
    """The signature is HMAC-SHA256 over `header.payload`, base64url without padding (RFC 7515)."""
    import hmac

    head, payload, signature = _token().split(".")
    expected = hmac.new(KEY, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature


def test_tampered_signature_payload_or_key_is_invalid() -> None:
    head, payload, signature = _token().split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert (
        _code(lambda: domain.decode_access_token(f"{head}.{payload}.{flipped}", KEY, NOW)) == "invalid_token"
    )
    forged = domain.b64url_encode(
        json.dumps({**json.loads(domain.b64url_decode(payload)), "sub": "1"}).encode()
    )
    assert (
        _code(lambda: domain.decode_access_token(f"{head}.{forged}.{signature}", KEY, NOW)) == "invalid_token"
    )
    assert _code(lambda: domain.decode_access_token(_token(), b"another key", NOW)) == "invalid_token"


def test_expired_token_is_refused_from_its_exp_on() -> None:
    token = _token(minutes=15)
    domain.decode_access_token(token, KEY, NOW + timedelta(minutes=15) - timedelta(seconds=1))
    assert (
        _code(lambda: domain.decode_access_token(token, KEY, NOW + timedelta(minutes=15))) == "token_expired"
    )


@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "HS512", "typ": "JWT"}, {"alg": "RS256"}, {}])
def test_other_algorithms_are_refused_even_when_signed(header: dict[str, str]) -> None:
    claims = domain.access_claims(user_id=7, role="admin", now=NOW, minutes=15, jti="j")
    token = domain.encode_token(claims, KEY, header)
    assert _code(lambda: domain.decode_access_token(token, KEY, NOW)) == "invalid_token"
    unsigned = token.rsplit(".", 1)[0] + "."
    assert _code(lambda: domain.decode_access_token(unsigned, KEY, NOW)) == "invalid_token"


@pytest.mark.parametrize(
    "changes",
    [
        {"typ": "refresh"},
        {"typ": None},
        {"sub": 7},
        {"sub": "x"},
        {"exp": "soon"},
        {"exp": True},
        {"role": 1},
    ],
)
def test_wrong_claims_are_refused(changes: dict[str, object]) -> None:
    assert _code(lambda: domain.decode_access_token(_token(**changes), KEY, NOW)) == "invalid_token"


@given(st.text(max_size=300))
def test_decoding_any_text_only_ever_refuses_as_unauthenticated(text: str) -> None:
    with pytest.raises(Unauthenticated):
        domain.decode_access_token(text, KEY, NOW)


_part = st.from_regex(r"\A[A-Za-z0-9_-]{0,40}\Z")
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(
    _part, _part, _part, st.dictionaries(st.sampled_from(["sub", "typ", "exp", "iat", "role", "x"]), _json)
)
def test_well_formed_but_arbitrary_tokens_never_crash(
    a: str, b: str, c: str, claims: dict[str, object]
) -> None:
    with pytest.raises(Unauthenticated):
        domain.decode_access_token(f"{a}.{b}.{c}", KEY, NOW)
    # Correctly signed arbitrary claims: either accepted as a whole or refused, never a crash.
    try:
        decoded = domain.decode_access_token(domain.encode_token(claims, KEY), KEY, NOW)
    except Unauthenticated:
        return
    assert decoded["typ"] == "access" and decoded["sub"].isdigit()


# -- TOTP ------------------------------------------------------------------------------------

# RFC 6238 appendix B: the seed is the ASCII string, repeated to the hash's block size.
_SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), _VECTORS)
def test_totp_matches_the_rfc_6238_vectors(unix_time: int, sha1: str, sha256: str, sha512: str) -> None:
    for name, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        algorithm = getattr(hashlib, name)
        assert domain.totp(_SEEDS[name], unix_time, digits=8, algorithm=algorithm) == expected


def test_hotp_matches_the_rfc_4226_vectors() -> None:
    expected = [
        "755224",
        "287082",
        "359152",
        "969429",
        "338314",
        "254676",
        "287922",
        "162583",
        "399871",
        "520489",
    ]
    assert [domain.hotp(_SEEDS["sha1"], n) for n in range(10)] == expected


def test_totp_accepts_one_step_either_side_and_nothing_further() -> None:
    secret = base64.b32encode(_SEEDS["sha1"]).decode()
    key = domain.totp_key(secret)
    moment = datetime.fromtimestamp(1111111111, UTC)
    for drift, ok in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        code = domain.totp(key, 1111111111 + drift)
        assert domain.verify_totp(secret, code, moment) is ok, drift
    code = domain.totp(key, 1111111111)
    assert domain.verify_totp(secret, f"{code[:3]} {code[3:]}", moment)
    for bad in (None, "", "12345", "1234567", "abcdef", "１２３４５６"):
        assert not domain.verify_totp(secret, bad, moment)


def test_totp_step_names_the_step_the_code_belongs_to() -> None:
    secret = base64.b32encode(_SEEDS["sha1"]).decode()
    key = domain.totp_key(secret)
    moment = datetime.fromtimestamp(1111111111, UTC)
    for drift in (-30, 0, 30):
        code = domain.totp(key, 1111111111 + drift)
        assert domain.totp_step(secret, code, moment) == (1111111111 + drift) // 30
    assert domain.totp_step(secret, domain.totp(key, 1111111111 + 90), moment) is None


def test_new_totp_secret_and_its_uri() -> None:
    secret = domain.new_totp_secret()
    assert len(domain.totp_key(secret)) == 20 and "=" not in secret
    uri = urlparse(domain.otpauth_uri(secret, "alice"))
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Sharebuy%3Aalice")
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Sharebuy"]
    assert query["digits"] == ["6"] and query["period"] == ["30"] and query["algorithm"] == ["SHA1"]


# -- passwords, logins, lock-out ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "login", "code"),
    [
        ("short1!", "alice", "password_too_short"),
        ("x" * 129, "alice", "password_too_long"),
        ("12345678901", "alice", "password_too_simple"),
        ("13900000001", "13900000001", "password_too_simple"),
        ("Alice.Admin", "alice.admin", "password_is_login"),
    ],
)
def test_weak_passwords_are_refused(password: str, login: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.check_password(password, login)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "password", ["8chars!!", "123456789012", "x" * 128, "correct horse 42", "密码密码密码密码"]
)
def test_acceptable_passwords(password: str) -> None:
    domain.check_password(password, "alice")


def test_operator_logins_start_with_a_letter() -> None:
    assert domain.normalise_operator_login("  Alice.Admin ") == "alice.admin"
    for bad in ("13900000001", "ab", "a b", "_admin", "a" * 65, "管理员"):
        with pytest.raises(InvalidInput):
            domain.normalise_operator_login(bad)


def test_lock_after_the_configured_number_of_failures() -> None:
    assert domain.lock_after_failure(4, 5, NOW, 15) is None
    until = domain.lock_after_failure(5, 5, NOW, 15)
    assert until == NOW + timedelta(minutes=15)
    assert domain.is_locked(until, NOW) and not domain.is_locked(until, until)
    assert not domain.is_locked(None, NOW)


# -- API keys and stored secrets ---------------------------------------------------------------


def test_api_key_round_trip() -> None:
    for _ in range(50):  # prefixes and secrets are random: many draws, one format
        key = domain.new_api_key()
        assert len(key.prefix) == 10 and key.prefix.isalnum()
        assert key.key.startswith(f"sbk_{key.prefix}_")
        assert domain.parse_api_key(key.key) == key
        assert domain.parse_api_key(f"  {key.key}\n") == key


@pytest.mark.parametrize(
    "text",
    ["", "sbk_", "sbk_abc_def", "sbk_abcdefghij", "xyz_abcdefghij_" + "s" * 43, "sbk_abcdefgh-j_" + "s" * 43],
)
def test_malformed_api_keys_are_refused(text: str) -> None:
    assert _code(lambda: domain.parse_api_key(text)) == "invalid_api_key"


@given(st.text(max_size=80))
def test_parsing_any_text_as_a_key_only_ever_refuses_as_unauthenticated(text: str) -> None:
    try:
        parsed = domain.parse_api_key(text)
    except Unauthenticated:
        return
    assert parsed.key == text.strip()


def test_only_a_sha256_digest_of_a_secret_is_kept() -> None:
    token = domain.new_token()
    assert len(token) >= 43
    assert domain.digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert domain.digest("\ud800") != domain.digest("x")  # strings a JSON body can carry never crash
