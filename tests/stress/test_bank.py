"""The bank test (Jepsen-style): money keeps its promises while the server and the database crash.

A private PostgreSQL cluster and the app as a subprocess; client threads buy, refund, list,
take, pay, confirm, cancel and settle over HTTP with Idempotency-Keys, retrying with the same
key after errors and timeouts; a nemesis SIGKILLs the server and crash-stops PostgreSQL several
times.  Afterwards, with everything up again: `verify` passes, every acknowledged operation is
in the database exactly once, every refused one left nothing, every one of unknown fate is
wholly present or wholly absent, and no retried key took effect twice (tests/stress/bank_checks.py).
`STRESS_SEED` repeats a run, `STRESS_SECONDS` sets its length.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import httpx
import pytest

from sharebuy.db.engine import make_engine
from sharebuy.ledger.service import seal_pending
from sharebuy.rewards import platform_service
from tests.stress import bank_checks, world
from tests.stress.bank import Run
from tests.stress.cluster import PrivateCluster, free_port
from tests.stress.history import Op, perform
from tests.stress.server import AppServer

pytestmark = pytest.mark.stress

CLIENTS = 6


def _sign_in(base: str, login: str, password: str) -> str:
    answer = httpx.post(f"{base}/api/v1/auth/token", json={"login": login, "password": password}, timeout=30)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def test_bank_survives_crashes(
    cluster: PrivateCluster, seed: int, stress_seconds: float, tmp_path: Path
) -> None:
    url = cluster.create_database(f"bank_{seed}")
    engine = make_engine(url)
    try:
        the_world = world.build(engine)
    finally:
        engine.dispose()
    server = AppServer(url, free_port(), tmp_path / "server.log")
    server.start()
    try:
        server.wait_database()
        for person in [*the_world.consumers, the_world.admin]:
            assert person is not None
            person.token = _sign_in(server.base, person.login, person.password)
        run = Run(the_world, server, cluster, seed, stress_seconds, CLIENTS)
        run.go()
        # Everything is up again: finish whatever settlement a crash left half done.
        final = None
        if run.shared.highest_day_asked is not None:
            assert the_world.admin is not None
            final = Op(
                "settle",
                f"s{seed}-final",
                "POST",
                "/api/v1/settlements",
                the_world.admin.token,
                {"date": run.shared.highest_day_asked.isoformat()},
                {"day": run.shared.highest_day_asked.isoformat()},
            )
            with httpx.Client(base_url=server.base, timeout=60) as client:
                perform(client, final, random.Random(seed), give_up_at=time.monotonic() + 60)
            assert final.outcome == "ok", (final.status, final.answer, final.errors)
    finally:
        server.kill()

    engine = make_engine(url)
    try:
        seal_pending(engine, wait=True)
        report = platform_service.verify_platform(engine)
        with engine.connect() as conn:
            problems = bank_checks.check(conn, the_world, run.history)
    finally:
        engine.dispose()
    summary = {
        "seed": seed,
        "seconds": stress_seconds,
        "operations": len(run.history.ops),
        "outcomes": run.history.by_outcome(),
        "by_kind": run.history.summary(),
        "retried": sum(1 for op in run.history.ops if op.attempts > 1),
        "replayed": sum(1 for op in run.history.ops if op.replayed),
        "faults": [f"{f.kind}@{f.at:.1f}s/{f.down_seconds:.1f}s" for f in run.faults],
    }
    print(json.dumps(summary, ensure_ascii=False))
    # The whole history, for a failing run: STRESS_HISTORY names a file to keep it in.
    kept = Path(os.environ.get("STRESS_HISTORY") or tmp_path / "history.json")
    kept.write_text(
        json.dumps([op.__dict__ for op in run.history.ops], ensure_ascii=False, default=str, indent=1)
    )
    assert report.ok, report.as_dict()
    assert not problems, problems[:20]
    assert {f.kind for f in run.faults} >= {"kill-server", "crash-database"}, summary["faults"]
    assert run.history.by_outcome().get("ok", 0) > 0
