"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from sharebuy import __version__
from sharebuy.db import migrate
from sharebuy.db.engine import make_engine


def create_app() -> FastAPI:
    engine = make_engine()
    app = FastAPI(title="sharebuy 共享购", version=__version__)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, object]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "migrations_current": migrate.is_current(engine)}

    return app
