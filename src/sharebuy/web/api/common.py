"""What every router shares: idempotent POSTs, JSON rendering and pagination cursors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from sharebuy.idempotency import service as idempotency
from sharebuy.identity.service import Principal
from sharebuy.kernel.errors import SharebuyError
from sharebuy.kernel.views import plain

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="unique per request you mean to make once; a retry with the same key gets the first answer",
        examples=["till-7-2025-03-01-000123"],
    ),
]
IDEMPOTENCY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Idempotency-Key missing where it is required"},
    409: {"description": "a request with the same Idempotency-Key is still in progress"},
    422: {"description": "invalid request, refused by the rules, or the key reused for another request"},
}


class KeyRequired(SharebuyError):
    status = 400


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
    required: bool = False,
    atomic: bool = True,
) -> JSONResponse:
    """Run a state-changing request once per (caller, Idempotency-Key)."""
    if key is None:
        if required:
            raise KeyRequired(
                "idempotency_key_required",
                "此操作必须带 Idempotency-Key 请求头，以保证重试不会重复记账",
                "this operation requires an Idempotency-Key header, so that a retry is never counted twice",
            )
        return JSONResponse(to_body(effect()), status_code=status_code)
    payload = body.model_dump(mode="json") if body is not None else None
    claim = idempotency.Request(
        scope=principal.scope,
        key=idempotency.check_key(key),
        method=request.method,
        path=request.url.path,
        fingerprint=idempotency.fingerprint(request.method, request.url.path, payload),
    )
    answer = idempotency.run(engine, claim, effect, lambda r: (status_code, to_body(r)), atomic=atomic)
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def next_before(items: list[dict[str, Any]], limit: int, field: str = "id") -> int | None:
    return int(items[-1][field]) if len(items) == limit and items else None
