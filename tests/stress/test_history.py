"""The history's verdicts (no server needed): what each kind of answer says about an operation."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx

from tests.stress.history import Op, perform


def _client(answers: list[Callable[[httpx.Request], httpx.Response]]) -> httpx.Client:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Idempotency-Key"] == "k-1"  # the same key on every attempt
        return queue.pop(0)(request)

    return httpx.Client(base_url="http://test", transport=httpx.MockTransport(handler))


def _answer(
    status: int, body: dict[str, object], **headers: str
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def _cut(error: type[httpx.HTTPError]) -> Callable[[httpx.Request], httpx.Response]:
    def raise_(request: httpx.Request) -> httpx.Response:
        raise error("cut", request=request)

    return raise_


def _run(*answers: Callable[[httpx.Request], httpx.Response], patience: float = 5) -> Op:
    op = Op("purchase", "k-1", "POST", "/x", "token", {"amount": "1.00"})
    with _client(list(answers)) as client:
        return perform(client, op, random.Random(1), give_up_at=time.monotonic() + patience)


def test_a_lost_answer_then_a_replay_is_acknowledged() -> None:
    op = _run(_cut(httpx.ReadTimeout), _answer(201, {"id": 7}, **{"Idempotent-Replayed": "true"}))
    assert (op.outcome, op.answer, op.replayed, op.attempts) == ("ok", {"id": 7}, True, 2)


def test_a_refusal_with_nothing_lost_before_is_a_definite_failure() -> None:
    op = _run(_cut(httpx.ConnectError), _answer(422, {"code": "amount_too_large"}))
    assert op.outcome == "failed" and op.status == 422


def test_a_refusal_after_a_lost_answer_leaves_the_fate_unknown() -> None:
    op = _run(_cut(httpx.RemoteProtocolError), _answer(422, {"code": "insufficient_points"}))
    assert op.outcome == "unknown"


def test_server_errors_and_in_progress_answers_are_retried() -> None:
    op = _run(
        _answer(503, {"code": "database_unavailable"}),
        _answer(409, {"code": "idempotency_in_progress"}),
        _answer(201, {"id": 3}),
    )
    assert op.outcome == "ok" and op.attempts == 3 and op.ambiguous_attempts == 2


def test_giving_up_after_only_refused_connections_is_a_definite_failure() -> None:
    op = _run(*[_cut(httpx.ConnectError)] * 50, patience=0)
    assert op.outcome == "failed" and op.attempts == 1
