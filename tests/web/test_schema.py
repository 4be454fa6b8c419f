"""The app against its own OpenAPI document: schemathesis, in-process, on both databases.

- Generated requests (valid and invalid ones) for every operation, sent with the credentials of
  several callers of a populated town: every answer must be no 5xx, a documented status code
  with its documented content type, and a body that matches the documented schema; a 2xx must
  turn into a 401 without the credentials or with bad ones.  Path parameters are sometimes the
  town's real ids, so that successful answers are checked too, not only refusals.
- Requests the generator seldom makes, each of which once answered 500 or a wrong body.
- Stateful scenarios along the links schemathesis infers (create, then read, then delete...).

The run is kept short (under a minute per database on two cores); to hunt for bugs, raise
SHAREBUY_SCHEMA_EXAMPLES and SHAREBUY_SCHEMA_SCENARIOS.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
import pytest
import schemathesis
from argon2 import PasswordHasher, Type
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from sharebuy.collectibles import service as collectibles
from sharebuy.events import service as events
from sharebuy.identity import service as identity
from sharebuy.market import service as market
from sharebuy.rewards import purchase_service, settlement_service
from tests.integration.collectibles_world import png
from tests.integration.market_world import fund, make_ready
from tests.snapshots import Snapshot
from tests.web.conftest import Town

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,  # a 2xx with credentials: the same request without them, or with bad ones, is a 401
]
STATEFUL_EXAMPLES = int(os.environ.get("SHAREBUY_SCHEMA_SCENARIOS", "50"))
STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]
# A POS key, an operator, and a consumer who owns merchant X.  The order matters: the owner
# may revoke keys, so the POS key goes first.
CALLERS = ("posX", "admin", "O")
EXAMPLES = int(os.environ.get("SHAREBUY_SCHEMA_EXAMPLES", "3"))


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        identity, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    )


def known_ids(town: Town) -> dict[str, Any]:
    """Real values for the path parameters, so that some requests reach real objects."""
    engine, x = town.engine, town.merchants["X"]
    purchase = purchase_service.record_purchase(
        engine, merchant_id=x, consumer_id=town["A"].member_id, amount="12.00", key="schema"
    )
    settled = settlement_service.settle(engine)  # every day up to yesterday
    # the market: X (under O's real name) sells, B buys and disputes; O and the admin see it all
    now, b = datetime.now(UTC), town["B"].member_id
    assert b is not None
    make_ready(engine, x, now=now, consumer=town["O"].member_id)
    make_ready(engine, b, now=now)
    fund(engine, x, "100")
    listing = market.create_listing(engine, x, quantity="20", price="1", payment_kinds=["alipay"], actor="t")
    order = market.create_buy_order(engine, b, quantity="10", price="1", payment_kinds=["alipay"])
    trade = market.take_listing(engine, b, listing["id"], "2", actor="t")
    market.mark_paid(engine, trade["id"], b, "REF-1", actor="t")
    market.dispute(engine, trade["id"], b, reason="no confirmation", actor="t")
    viewer = market.Viewer(frozenset({b}))
    evidence = market.add_evidence(engine, trade["id"], viewer, kind="text", text="77", actor="t")
    edition = collectibles.create_edition(
        engine,
        title_zh="藏品",
        description_zh="schema",
        supply=5,
        price="1",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        image=png(),
        actor="t",
    )
    fund(engine, b, "5")
    token = collectibles.redeem(engine, edition["id"], b, actor="t")
    return {
        "edition_id": edition["id"],
        "token_id": token["token_id"],
        "consumer_id": town["A"].member_id,
        "merchant_id": x,
        "purchase_id": purchase.id,
        "key_id": identity.create_api_key(engine, x, name="spare", created_by=None)["id"],
        "endpoint_id": events.create_endpoint(engine, x, url="https://pos.example.cn/a")["id"],
        "day": settled[-1].date.isoformat(),
        "listing_id": listing["id"],
        "order_id": order["id"],
        "trade_id": trade["id"],
        "evidence_id": evidence["id"],
        "method_id": market.list_payment_methods(engine, x)[0]["id"],
    }


def _strategy(operation: Any, mode: GenerationMode, known: dict[str, Any]) -> Any:
    generated = operation.as_strategy(generation_mode=mode)
    real = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
    if not real or mode is GenerationMode.NEGATIVE:
        return generated
    return st.one_of(generated, operation.as_strategy(generation_mode=mode, path_parameters=real))


SETTINGS = hypothesis.settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same requests on every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def _exercise(
    operation: Any, mode: GenerationMode, credentials: dict[str, str], known: dict[str, Any], examples: int
) -> None:
    @hypothesis.settings(SETTINGS, max_examples=examples)
    @hypothesis.given(case=_strategy(operation, mode, known))
    def conforms(case: Any) -> None:
        headers = dict(credentials)
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    conforms()


def _has_input(operation: Any) -> bool:
    return bool(list(operation.iter_parameters()) or operation.body)


def _report(failures: list[str]) -> str:
    return f"{len(failures)} failures:\n" + "\n".join(failures)


def test_every_operation_conforms(town: Town) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", town.client.app)
    known = known_ids(town)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    # Valid data as every caller; invalid data (refused before any rights matter, mostly) as
    # one caller per operation, in turn, to keep the run short.
    plan = [
        (who, operation, GenerationMode.POSITIVE, EXAMPLES) for who in CALLERS for operation in operations
    ]
    plan += [
        (CALLERS[index % len(CALLERS)], operation, GenerationMode.NEGATIVE, 2 * EXAMPLES)
        for index, operation in enumerate(operations)
        if _has_input(operation)
    ]
    failures: list[str] = []
    for who, operation, mode, examples in plan:
        try:
            _exercise(operation, mode, town[who].headers, known, examples)
        except (Exception, FailureGroup) as error:
            failures.append(f"== {operation.label} as {who}, {mode.value} data:\n{error}")
    assert not failures, _report(failures)


# Requests the generator seldom makes, each of which once answered 500 (or a wrong body).
FAR = "9999-12-31T23:59:59Z"
EDGES: tuple[tuple[str, str, str, dict[str, Any], int], ...] = (
    # U+0000 cannot be stored in PostgreSQL text
    (
        "anonymous",
        "POST",
        "/auth/register",
        {"body": {"phone": "13900000001", "password": "p" * 8, "name": "a\x00"}},
        422,
    ),
    ("anonymous", "POST", "/auth/token", {"body": {"login": "a\x00", "password": "x"}}, 422),
    ("anonymous", "POST", "/auth/session", {"body": {"login": "admin", "password": "a\x00"}}, 422),
    ("A", "POST", "/merchants", {"body": {"name": "a\x00", "region_code": "441900"}}, 422),
    ("O", "POST", "/merchants/{merchant_id}/api-keys", {"body": {"name": "a\x00"}}, 422),
    (
        "O",
        "POST",
        "/merchants/{merchant_id}/webhooks",
        {"body": {"url": "https://a.cn/\x00", "topics": ["*"]}},
        422,
    ),
    (
        "admin",
        "POST",
        "/rules",
        {"body": {"changes": {"daily_airdrop": "1"}, "effective_from": "2099-01-01", "note": "\x00"}},
        422,
    ),
    ("A", "GET", "/consumers/{consumer_id}/history", {"query": {"kind": "a\x00"}}, 422),
    ("admin", "GET", "/merchants", {"query": {"status": "a\x00"}}, 422),
    # ids beyond 64 bits overflow the drivers
    ("posX", "POST", "/purchases/{purchase_id}/refund", {"path_parameters": {"purchase_id": 2**63}}, 422),
    ("A", "GET", "/consumers/{consumer_id}", {"path_parameters": {"consumer_id": 2**64}}, 422),
    ("admin", "GET", "/purchases", {"query": {"before": 2**63}}, 422),
    (
        "admin",
        "GET",
        "/settlements/{day}/lines",
        {"path_parameters": {"day": "2026-01-01"}, "query": {"offset": 2**63}},
        422,
    ),
    ("posX", "POST", "/purchases", {"body": {"consumer_id": 2**63, "amount": "1.00"}}, 422),
    # a moment with no business day, or in the future
    (
        "posX",
        "POST",
        "/purchases",
        {"body": {"consumer_phone": "13800000000", "amount": "1.00", "at": FAR}},
        422,
    ),
    (
        "posX",
        "POST",
        "/purchases",
        {"body": {"consumer_phone": "13800000000", "amount": "1.00", "at": "0001-01-01T00:00:00+14:00"}},
        422,
    ),
    (
        "posX",
        "POST",
        "/purchases",
        {"body": {"consumer_phone": "13800000000", "amount": "1.00", "at": "2100-01-01T00:00:00Z"}},
        422,
    ),
    ("posX", "POST", "/purchases/{purchase_id}/refund", {"body": {"at": FAR}}, 422),
    # an exponent overflows the decimal context
    (
        "admin",
        "POST",
        "/rules",
        {"body": {"changes": {"daily_airdrop": "1e999999"}, "effective_from": "2099-01-01"}},
        422,
    ),
    # S is staff of X already
    ("O", "POST", "/merchants/{merchant_id}/staff", {"body": {"phone": "13800000003"}}, 409),
    # a body that is not even UTF-8
    ("A", "POST", "/merchants", {"body": b"\xff\xfe{", "media_type": "application/json"}, 400),
    # what the town has, in full: answers that carry moments (SQLite gives them back naive)
    ("A", "GET", "/consumers/{consumer_id}", {}, 200),
    ("A", "GET", "/consumers/{consumer_id}/history", {}, 200),
    ("A", "GET", "/purchases", {}, 200),
    ("A", "GET", "/purchases/{purchase_id}", {}, 200),
    ("A", "POST", "/merchants", {"body": {"name": "新店", "region_code": "441900"}}, 201),
    ("O", "GET", "/merchants/{merchant_id}", {}, 200),
    ("O", "GET", "/merchants/{merchant_id}/api-keys", {}, 200),
    ("O", "GET", "/merchants/{merchant_id}/webhooks", {}, 200),
    (
        "posX",
        "POST",
        "/purchases",
        {"body": {"consumer_phone": "13800000000", "amount": "1.00", "at": "now"}},
        201,
    ),
    ("posX", "POST", "/purchases/{purchase_id}/refund", {}, 200),
)


def test_edge_requests_conform(town: Town) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", town.client.app)
    known = known_ids(town)
    failures: list[str] = []
    for index, (who, method, path, data, expected) in enumerate(EDGES):
        operation = schema[f"/api/v1{path}"][method]
        names = {p.name for p in operation.path_parameters}
        data = {
            **data,
            "path_parameters": {**{n: known[n] for n in names}, **data.get("path_parameters", {})},
        }
        if isinstance(data.get("body"), dict) and data["body"].get("at") == "now":
            data["body"] = {**data["body"], "at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
        headers = {**town[who].headers, "Idempotency-Key": f"edge-{index}"}
        case = operation.Case(headers=headers, **data)
        response = case.call()
        label = f"{method} {path} as {who} with {data}"
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, FailureGroup) as error:
            failures.append(f"== {label}:\n{error}")
        if response.status_code != expected:
            failures.append(f"== {label}: {response.status_code}, expected {expected}: {response.text[:300]}")
    assert not failures, _report(failures)


def test_stateful_scenarios_conform(town: Town) -> None:
    """Chains of calls linked by the ids the answers carry (links inferred by schemathesis):
    what was just created can be read, what was deleted is gone."""
    # The market's flows need two parties (a seller and a buyer) at each step, which a machine
    # acting as one caller cannot drive: its scenarios would be nothing but refusals.
    schema = schemathesis.openapi.from_asgi("/openapi.json", town.client.app).exclude(
        path_regex="^/api/v1/market/"
    )
    steps: list[tuple[str, int]] = []  # (operation, status) of every step, to see what ran
    # Every scenario starts from the town as it was built: Hypothesis replays the choices of
    # earlier scenarios and expects the answers it got then (a 201 that became a 409 would leave
    # a bundle empty, and the machine would not be a function of Hypothesis's choices).
    with Snapshot(town.engine) as town_as_built:
        for who in ("O", "admin"):
            _scenario(schema, town[who].headers, steps, town_as_built).run(
                settings=hypothesis.settings(
                    max_examples=STATEFUL_EXAMPLES,
                    stateful_step_count=6,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    suppress_health_check=list(HealthCheck),
                    phases=[hypothesis.Phase.generate],
                )
            )
    outcomes = Counter(steps)
    assert len(steps) > 100, f"too few steps ran: {outcomes}"
    # The callers were let in: some steps were accepted.  Which writes succeed (a merchant
    # application, a deposit, ...) depends on the data drawn, which differs with the operations
    # the document describes, so no particular one is asked for.
    assert any(200 <= status < 300 for _, status in steps), f"nothing was accepted: {outcomes}"


def _scenario(schema: Any, credentials: dict[str, str], steps: list[tuple[str, int]], start: Snapshot) -> Any:
    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            start.restore()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": dict(credentials)}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            steps.append((case.operation.label, response.status_code))
            case.validate_response(
                response,
                checks=STATEFUL_CHECKS,
                headers=kwargs.get("headers"),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    return Scenario
