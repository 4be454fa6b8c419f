"""Every error as RFC 9457 problem+json: a stable `code`, a title and a detail in the caller's
language (Accept-Language), both languages side by side, and the request id to quote."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharebuy.kernel.errors import SharebuyError, Unauthenticated
from sharebuy.web.i18n import language

log = logging.getLogger("sharebuy.web")
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str] = Field(examples=[["body", "amount"]])
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error answer."""

    type: str = Field(examples=["urn:sharebuy:problem:forbidden"])
    title: str = Field(examples=["Forbidden"])
    status: int = Field(examples=[403])
    detail: str = Field(description="in the language Accept-Language asks for")
    instance: str = Field(description="the request path")
    code: str = Field(description="stable and machine-readable", examples=["forbidden"])
    message_zh: str
    message_en: str
    request_id: str | None = Field(description="quote it when reporting a problem")
    details: dict[str, str] | None = Field(default=None, description="facts about the refusal, by name")
    errors: list[FieldError] | None = Field(default=None, description="what is wrong, for invalid_request")


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# Messages for errors raised by the framework rather than by the platform.
_HTTP_MESSAGES: dict[int, tuple[str, str, str]] = {
    400: ("malformed_request", "请求体格式错误，无法解析", "the request body cannot be parsed"),
    404: ("not_found", "请求的资源不存在", "the requested resource does not exist"),
    405: ("method_not_allowed", "该资源不支持此请求方法", "this method is not allowed on this resource"),
    406: ("not_acceptable", "无法提供所请求的格式", "the requested representation is not available"),
    413: ("payload_too_large", "请求体过大", "the request body is too large"),
    415: ("unsupported_media_type", "不支持的请求格式，请发送 JSON", "unsupported media type; send JSON"),
}


def problem(
    request: Request,
    status: int,
    code: str,
    message_zh: str,
    message_en: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    lang = language(request.headers.get("accept-language"))
    body: dict[str, Any] = {
        "type": f"urn:sharebuy:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": message_en if lang == "en" else message_zh,
        "instance": request.url.path,
        "code": code,
        "message_zh": message_zh,
        "message_en": message_en,
        "request_id": getattr(request.state, "request_id", None),
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(request: Request, error: SharebuyError) -> JSONResponse:
    extra = {"details": {k: str(v) for k, v in error.details.items()}} if error.details else None
    headers = {"WWW-Authenticate": 'Bearer realm="sharebuy"'} if isinstance(error, Unauthenticated) else None
    return problem(
        request, error.status, error.code, error.message_zh, error.message_en, extra=extra, headers=headers
    )


IDEMPOTENCY_HEADER = "Idempotency-Key"


def _missing_key(errors: list[dict[str, Any]]) -> bool:
    return any(e["loc"] == ["header", IDEMPOTENCY_HEADER] and e["type"] == "missing" for e in errors)


def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in error.errors()
    ]
    if _missing_key(errors):
        # A route that requires the key (web.api.common.RequiredIdempotencyKey): said as such,
        # before anything else the request may lack.
        return problem(
            request,
            400,
            "idempotency_key_required",
            "此操作必须带 Idempotency-Key 请求头，以保证重试不会重复记账",
            "this operation requires an Idempotency-Key header, so that a retry is never counted twice",
        )
    if errors and all(e["type"] == "json_invalid" for e in errors):
        # Not JSON at all (cut short, a stray comma): the body cannot be parsed, as the document
        # says, rather than "field 17 is not valid" with the character offset for a field name.
        code, zh, en = _HTTP_MESSAGES[400]
        return problem(request, 400, code, zh, en)
    fields = ", ".join(".".join(e["loc"][1:]) or e["loc"][0] for e in errors if e["loc"]) or "?"
    return problem(
        request,
        422,
        "invalid_request",
        f"请求内容不符合要求：{fields}",
        f"the request is not valid: {fields}",
        extra={"errors": errors},
    )


def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code, zh, en = _HTTP_MESSAGES.get(
        error.status_code, (f"http_{error.status_code}", str(error.detail), str(error.detail))
    )
    return problem(request, error.status_code, code, zh, en, headers=getattr(error, "headers", None))


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    if getattr(request.state, "unexpected", None) is not error:  # once, though answered twice
        request.state.unexpected = error
        # Not log.exception: an exception handler runs outside the `except` block, so that would
        # log "NoneType: None" instead of the traceback. The request id is passed along, for
        # Starlette's last-resort handler runs after the request-id middleware has finished.
        log.error(
            "unhandled error",
            exc_info=error,
            extra={"path": request.url.path, "request_id": getattr(request.state, "request_id", None)},
        )
    return problem(
        request,
        500,
        "internal_error",
        "服务器内部错误，请稍后重试；如持续出现请提供 request_id 联系运营方",
        "internal server error; retry later, and quote the request_id if it persists",
    )


class UnexpectedErrors:
    """Innermost middleware: an exception that no handler took is answered here, inside the
    request's own middleware, so that the 500 carries the request id and the security headers
    like every other answer (Starlette's last-resort handler runs outside all middleware, and its
    answer had neither). The exception goes on up, for the server to log and tests to see."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            if not started:
                await _unexpected(Request(scope), error)(scope, receive, send)
            raise


# SQLSTATEs of a connection lost or refused by a server shutting down or starting up.
_GONE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _database_gone(error: DBAPIError) -> bool:
    """The database could not be reached or dropped the connection: nothing about the request
    itself is wrong, and whatever it wrote was rolled back or committed with its idempotency record."""
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return str(sqlstate).startswith(_GONE_SQLSTATES)
    # psycopg refuses to connect without a SQLSTATE; SQLite's busy database says "locked".
    text = str(error.orig)
    return error.__class__.__name__ == "OperationalError" and (
        "connection" in text or "database is locked" in text
    )


def _database(request: Request, error: DBAPIError) -> JSONResponse:
    """An outage of the database is 503 with Retry-After, not a 500: retrying is right, and with
    the same Idempotency-Key safe."""
    if not _database_gone(error):
        return _unexpected(request, error)
    log.warning("database unavailable", extra={"path": request.url.path, "error": str(error.orig)[:200]})
    return problem(
        request,
        503,
        "database_unavailable",
        "数据库暂时不可用，请稍后用同一 Idempotency-Key 重试",
        "the database is unavailable for the moment; retry shortly with the same Idempotency-Key",
        headers={"Retry-After": "1"},
    )


def _document(app: FastAPI) -> None:
    """Put `Problem` into the OpenAPI components, for the routes' error responses to refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in schemas:
            schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas["Problem"] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document(app)
    app.add_exception_handler(SharebuyError, from_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
