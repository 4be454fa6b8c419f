"""Browser tests: the real app served by uvicorn on a free port, driven by Playwright through
Debian's chromium (`/usr/bin/chromium`; a browser is never downloaded).

Each story gets a fresh database from the `engine` fixture (a SQLite file, and the PostgreSQL
database of SHAREBUY_TEST_POSTGRES_URL).  Screenshots go to test-artifacts/e2e/ (gitignored).
Without chromium the tests are skipped, except in CI (CI=true), where that is an error.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from sharebuy.identity import service as identity
from sharebuy.kernel.clock import business_day
from sharebuy.rewards import platform_service
from sharebuy.settings import Settings
from sharebuy.web.app import create_app

CHROMIUM = os.environ.get("SHAREBUY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
OPERATOR_PASSWORD = "operator pass 2025"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    engine: Engine
    start_day: object


@pytest.fixture
def server(engine: Engine) -> Iterator[Server]:
    """The platform started two days ago, an admin `boss`, and the app serving on a free port."""
    today = business_day(datetime.now(UTC))
    start = today - timedelta(days=2)
    platform_service.initialise(engine, start_day=start)
    identity.create_operator(engine, login="boss", password=OPERATOR_PASSWORD, role="admin")
    settings = Settings(
        environment="test", sign_in_rate_per_minute=10_000, log_json=False, log_level="WARNING"
    )
    app = create_app(settings, engine=engine, scheduler=False)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", engine, start)
    finally:
        running.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail(f"chromium is not installed at {CHROMIUM}; .ci/run installs it with apt")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
    path = ARTIFACTS / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
