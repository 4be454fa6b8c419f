"""What every router shares: idempotent POSTs, JSON rendering and pagination cursors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from sharebuy.db.base import MAX_ID
from sharebuy.idempotency import service as idempotency
from sharebuy.identity.service import Principal
from sharebuy.kernel import views
from sharebuy.web.problems import IDEMPOTENCY_HEADER, MEDIA_TYPE, PROBLEM_REF

T = TypeVar("T")

# A larger id than the databases hold is refused here, not by the driver (a 500).
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="unique per request you mean to make once; a retry with the same key gets the first answer",
        examples=["till-7-2025-03-01-000123"],
    ),
]
# Where a retry must never count twice (money, points, stock moving), the key is required: the
# document says so, and a request without it is answered 400 `idempotency_key_required`
# (web.problems, where FastAPI reports the missing header).
RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="required: unique per request you mean to make once; a retry with the same key "
        "gets the first answer",
        examples=["till-7-2025-03-01-000123"],
    ),
]
Responses = dict[int | str, dict[str, Any]]


def problems(described: dict[int, str]) -> Responses:
    """Error answers for `responses=`, as problem+json: `problems({404: "no such merchant"})`."""
    return {
        status: {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}
        for status, description in described.items()
    }


# Every route validates what it is sent.
INVALID = problems(
    {
        400: "the body cannot be parsed (not JSON, or not UTF-8)",
        422: "invalid request, or refused by the rules",
    }
)
# What every route that needs a caller may answer.
SIGNED_IN = problems(
    {
        401: "not signed in: no, an invalid or an expired token, key or session",
        403: "signed in, but not allowed to do this or to see this object",
    }
)
# The routers whose every route needs a caller and acts on an object named in the path or body.
ERROR_RESPONSES: Responses = {**SIGNED_IN, **problems({404: "no such object"}), **INVALID}
IDEMPOTENCY_RESPONSES = problems(
    {
        400: "Idempotency-Key missing where it is required, or a body that cannot be parsed",
        409: "a request with the same Idempotency-Key is still in progress, or a conflicting state",
        422: "invalid request, refused by the rules, or the key reused for another request",
    }
)


def plain(value: Any) -> Any:
    """`kernel.views.plain` for the API, with every moment carrying its offset: SQLite hands
    back naive datetimes (in UTC), and a time without an offset would be read as local time."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC).isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return views.plain(value)


def render(status_code: int) -> Callable[[Any], tuple[int, Any]]:
    return lambda result: (status_code, plain(result))


def idempotent(
    request: Request,
    engine: Engine,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    effect: Callable[[], T],
    *,
    status_code: int = 200,
    to_body: Callable[[T], Any] = plain,
    atomic: bool = True,
    optimistic: bool = False,
) -> JSONResponse:
    """Run a state-changing request once per (caller, Idempotency-Key); `optimistic` as in
    `idempotency.run` (no read of the key before an effect that writes only in its transaction)."""
    if key is None:  # a route whose key is optional, called without one
        return JSONResponse(to_body(effect()), status_code=status_code)
    payload = body.model_dump(mode="json") if body is not None else None
    claim = idempotency.Request(
        scope=principal.scope,
        key=idempotency.check_key(key),
        method=request.method,
        path=request.url.path,
        fingerprint=idempotency.fingerprint(request.method, request.url.path, payload),
    )
    answer = idempotency.run(
        engine, claim, effect, lambda r: (status_code, to_body(r)), atomic=atomic, optimistic=optimistic
    )
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def next_before(items: list[dict[str, Any]], limit: int, field: str = "id") -> int | None:
    return int(items[-1][field]) if len(items) == limit and items else None
