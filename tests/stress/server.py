"""The app as a subprocess (`sharebuy serve`), killed with SIGKILL and started again.

The server runs in a process group of its own: with several workers uvicorn forks, and a
SIGKILL to the supervisor alone would leave the workers serving; killing the group is a crash
of the whole server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

SHAREBUY = Path(sys.executable).with_name("sharebuy")


class AppServer:
    def __init__(self, database_url: str, port: int, log: Path, *, workers: int = 1) -> None:
        self.database_url = database_url
        self.port = port
        self.log = log
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SHAREBUY_DATABASE_URL": self.database_url,
            "SHAREBUY_LOG_LEVEL": "WARNING",
            # Tokens outlive the run, and the clients sign in once each before it starts.
            "SHAREBUY_ACCESS_TOKEN_MINUTES": "240",
            "SHAREBUY_SIGN_IN_RATE_PER_MINUTE": "1000",
        }

    def start(self) -> None:
        assert self.process is None
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(SHAREBUY),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env=self.env(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL to the server and every worker it forked."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def pause(self, seconds: float) -> None:
        """SIGSTOP the whole server for longer than a client waits, then SIGCONT: requests the
        clients gave up on are still carried out, and their retries meet them."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.killpg(self.process.pid, signal.SIGCONT)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /healthz answers (the database may be down on purpose: that is not our business)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout}s; see {self.log}")

    def wait_database(self, timeout: float = 60) -> None:
        """Until /readyz says the database answers and is migrated."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server's database was not ready within {timeout}s; see {self.log}")
