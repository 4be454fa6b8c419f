"""The FastAPI application: the JSON API under /api/v1, health, readiness and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text

from sharebuy import __version__
from sharebuy.db import migrate
from sharebuy.db.engine import make_engine
from sharebuy.events import service as events
from sharebuy.mall import service as mall_service
from sharebuy.market import service as market_service
from sharebuy.settings import Settings, get_settings
from sharebuy.web import pages, problems
from sharebuy.web.api import auth, mall, market, members, platform, purchases, tiers, webhooks
from sharebuy.web.api import collectibles as collectibles_api
from sharebuy.web.bodylimit import BodyLimit
from sharebuy.web.observability import RequestContext, configure_logging, metrics_payload
from sharebuy.web.ratelimit import SlidingWindow
from sharebuy.web.scheduler import Scheduler

STATIC = Path(__file__).parent / "static"
SWAGGER = "swagger-ui-dist-5.35.0"
DESCRIPTION = """
共享购平台 HTTP 接口 · the sharebuy HTTP API.

- 金额一律为十进制字符串（积分 4 位小数，共享值与人民币 2 位）· amounts are decimal strings.
- 错误为 RFC 9457 `application/problem+json`，带稳定的 `code`；语言由 `Accept-Language` 决定。
- 改变状态的 POST 接受 `Idempotency-Key`（记账类操作必填）：重试返回第一次的结果。
- 身份：`Authorization: Bearer <访问令牌>`、收银机密钥（`Bearer sbk_...` 或 `X-API-Key`），或网页会话 Cookie + `X-CSRF-Token`。
- 积分价格由会员交易决定，可能下跌；平台不承诺任何收益。Points can fall in price; no return is promised.
"""

# Worker threads per process for the routes' blocking work (anyio's default is 40).  Python runs
# one thread at a time: with 16 purchases in flight per worker (32 clients) they took turns on the
# interpreter and the last waited a second (p99 about 1.1 s with 40 threads, 0.35 s with 8, and
# 120 → 130–160 purchases/s).  Eight still leave room for requests that wait on the database (a
# row lock) or hash a password while others run; the rest queue on the event loop, in order.
WORKER_THREADS = 8


def periodic_jobs() -> list[tuple[timedelta, Callable[[Engine], object]]]:
    """Jobs the scheduler runs every few seconds: webhook deliveries, market and mall timeouts."""
    minute = timedelta(minutes=1)
    return [
        (timedelta(seconds=5), events.run_once),
        (minute, market_service.sweep),
        (minute, mall_service.sweep),
    ]


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, scheduler: bool | None = None
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    engine = engine or make_engine(settings.database_url)
    run_scheduler = settings.scheduler if scheduler is None else scheduler

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        jobs = Scheduler(engine, periodic=periodic_jobs()) if run_scheduler else None
        if jobs is not None:
            jobs.start()
        try:
            yield
        finally:
            if jobs is not None:
                jobs.stop()

    app = FastAPI(
        title="sharebuy 共享购",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served below from vendored files: no CDN, works offline
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.engine = engine
    app.state.settings = settings
    app.state.sign_in_window = SlidingWindow(settings.sign_in_rate_per_minute)
    problems.install(app)
    app.add_middleware(problems.UnexpectedErrors)  # innermost: its 500 passes RequestContext
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestContext, hsts=settings.environment == "production")
    for router in (
        auth.router,
        members.router,
        purchases.router,
        platform.router,
        webhooks.router,
        market.router,
        tiers.router,
        collectibles_api.router,
        mall.router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(pages.router)  # the HTML pages: /, /login, /wallet, /merchant, /market, /ops
    _operational_routes(app, engine)
    return app


def _operational_routes(app: FastAPI, engine: Engine) -> None:
    @app.get("/healthz", tags=["ops 运维"])
    def healthz() -> dict[str, str]:
        """进程存活 · the process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops 运维"])
    def readyz() -> JSONResponse:
        """可以接客：数据库可达且迁移为最新 · database reachable and migrations current."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = migrate.is_current(engine)
        except Exception as error:  # a readiness probe reports, it does not raise
            return JSONResponse(
                {"status": "unavailable", "database": False, "error": type(error).__name__}, status_code=503
            )
        body = {
            "status": "ok" if current else "migrations_pending",
            "database": True,
            "migrations_current": current,
        }
        return JSONResponse(body, status_code=200 if current else 503)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="sharebuy 共享购 API",
            swagger_js_url=f"/static/vendor/{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"/static/vendor/{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"/static/vendor/{SWAGGER}/favicon-32x32.png",
        )

    @app.get("/metrics", tags=["ops 运维"], include_in_schema=False)
    def metrics() -> Response:
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)
