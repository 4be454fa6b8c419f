"""A settlement killed at random points and run again releases each day's airdrop exactly once.

The operator CLI settles a few days of many holders in small chunks (tests/stress/settle_child.py);
it is SIGKILLed again and again, at a random moment once it has made progress, or just before or after a random commit,
and every crash leaves a state `verify` accepts.  Then it runs to completion: each day is
completed once, the journal released A_D for it (I4) and the reserve fell by exactly Σ A_D.
A further run changes nothing.  On SQLite and on the private PostgreSQL cluster.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from sharebuy.db import migrate
from sharebuy.db.engine import make_engine
from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.clock import BUSINESS_TZ, business_day
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.members import service as members
from sharebuy.rewards import platform_service, purchase_service
from sharebuy.rewards.models import settlements
from tests.stress.cluster import PrivateCluster

pytestmark = pytest.mark.stress

HOLDERS = 120
DAYS = 3
CHUNK = 6  # 20 chunks a day
KILLS = int(os.environ.get("STRESS_SETTLEMENT_KILLS", "6"))
PAUSE = 0.1  # seconds after each posted chunk, in the children killed after a delay
CHILD = Path(__file__).with_name("settle_child.py")
ROOT = Path(__file__).resolve().parents[2]


def _build(engine: Engine) -> tuple[str, str]:
    """Holders with share value on each of the first DAYS days; answers (first, last) day."""
    migrate.upgrade(engine)
    today = business_day(datetime.now(UTC))
    start = today - timedelta(days=10)
    platform_service.initialise(engine, start_day=start, actor="stress")
    owner = members.add_consumer(engine, phone="13700000000", name="店主")
    shop = members.add_merchant(engine, name="日结压测商家", owner_id=owner, region="441900", rate="0.10")
    members.approve_merchant(engine, shop, actor="stress")
    members.grant_points(engine, shop, "20000", reason="压测启动积分", actor="stress")
    members.post_deposit(engine, shop, actor="stress")
    for n in range(HOLDERS):
        consumer = members.add_consumer(engine, phone=f"137{n + 1:08d}")
        day = start + timedelta(days=n % DAYS)
        purchase_service.record_purchase(
            engine,
            merchant_id=shop,
            consumer_id=consumer,
            amount=f"{50 + 13 * n}.{n % 100:02d}",
            at=datetime.combine(day, clock(9, n % 60), BUSINESS_TZ),
            key=f"seed-{n}",
            actor="stress",
        )
    return start.isoformat(), (start + timedelta(days=DAYS - 1)).isoformat()


def _child(url: str, last: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), "--db", url, "settle", "--through", last, "--json"],
        env={**os.environ, "STRESS_CHUNK_SIZE": str(CHUNK), **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _state(engine: Engine) -> list[str]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(
                settlements.c.business_day,
                settlements.c.status,
                settlements.c.chunks_posted,
                settlements.c.chunks,
            ).order_by(settlements.c.business_day)
        ).all()
    return [f"{d}:{s}:{p}/{c}" for d, s, p, c in rows]


def _remaining_commits(engine: Engine) -> int:
    """About how many commits the settlement has left: compute, each chunk, complete, per day."""
    per_day = HOLDERS // DAYS // CHUNK + 2
    with reading(engine) as conn:
        rows = conn.execute(
            select(settlements.c.status, settlements.c.chunks, settlements.c.chunks_posted)
        ).all()
    started = sum(int(c) - int(p) + 1 for s, c, p in rows if s != "completed")
    return started + per_day * (DAYS - len(rows))


def _reserve(engine: Engine) -> int:
    with reading(engine) as conn:
        return int(ledger.balances(conn, "platform")["reserve"])


def _kill_after_progress(
    child: subprocess.Popen[bytes], engine: Engine, before: list[str], rng: random.Random, left: int
) -> None:
    """SIGKILL the child a random moment after its first commit shows in the database.

    Waiting for progress rather than for a fixed start-up time keeps the kill inside the posting
    on a slow or a fast machine alike; the crashes before the first commit are the self-kills'.
    """
    deadline = time.monotonic() + 120
    while _state(engine) == before and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # Counted again now: on a loaded machine this process may see the first commit late, when
    # the child is well on.  Most remaining commits take at least PAUSE (a day's computing and
    # completing commits do not), so a quarter of that budget ends before the work does.
    left = min(left, _remaining_commits(engine))
    time.sleep(rng.uniform(0, 0.25 * PAUSE * left))
    child.send_signal(signal.SIGKILL)


def _verified(engine: Engine) -> None:
    report = platform_service.verify_platform(engine)
    assert report.ok, [c for c in report.checks if not c.ok]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_killed_settlement_releases_each_day_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, seed: int
) -> None:
    if backend == "postgres":
        cluster: PrivateCluster = request.getfixturevalue("cluster")
        url = cluster.create_database(f"settle_{seed}")
    else:
        url = f"sqlite:///{tmp_path / 'settle.db'}"
    rng = random.Random(seed)
    engine = make_engine(url)
    try:
        first, last = _build(engine)
        reserve_before = _reserve(engine)
        crashes: list[dict[str, object]] = []
        for n in range(KILLS):
            left = _remaining_commits(engine)
            before = _state(engine)
            if left == 0:
                break
            if n % 2 == 0:
                # Killed from outside at a random moment of the posting.
                child = _child(url, last, {"STRESS_CHUNK_PAUSE": str(PAUSE)})
                _kill_after_progress(child, engine, before, rng, left)
                how = "delay"
            else:
                # Killing itself just before or after one of the commits still to come.
                when = rng.choice(["before", "after"])
                at = rng.randint(1, left)
                child = _child(url, last, {"STRESS_DIE_AT_COMMIT": str(at), "STRESS_DIE_WHEN": when})
                how = f"{when} commit {at}"
            code = child.wait(timeout=120)
            crashes.append({"how": how, "exit": code, "left": _state(engine)})
            _verified(engine)  # every crash leaves a state verify accepts
        assert sum(1 for c in crashes if c["exit"] == -signal.SIGKILL) >= KILLS // 2, crashes
        done = _child(url, last, {})
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err.decode()[-2000:]
        answer = json.loads(out)
        print(json.dumps({"backend": backend, "seed": seed, "crashes": crashes}, ensure_ascii=False))

        _verified(engine)
        with reading(engine) as conn:
            rows = conn.execute(select(settlements).order_by(settlements.c.business_day)).mappings().all()
            released = dict(
                conn.execute(
                    select(entries.c.business_day, -func.sum(postings.c.amount))
                    .join(postings, postings.c.entry_id == entries.c.id)
                    .join(accounts, accounts.c.id == postings.c.account_id)
                    .where(entries.c.kind == "release", accounts.c.kind == "reserve")
                    .group_by(entries.c.business_day)
                ).all()
            )
            entry_count = int(conn.execute(select(func.count()).select_from(entries)).scalar_one())
        assert [r["business_day"].isoformat() for r in rows] == [
            (datetime.fromisoformat(first) + timedelta(days=d)).date().isoformat() for d in range(DAYS)
        ]
        for row in rows:
            airdrop = int(row["airdrop"])
            assert row["status"] == "completed"
            assert airdrop == Points.parse("500").units  # A_D = min(A, reserve): the reserve is ample
            assert int(row["released"]) == airdrop
            assert int(released[row["business_day"]]) == airdrop  # the journal, not the header, says so
        assert reserve_before - _reserve(engine) == sum(int(r["airdrop"]) for r in rows)
        assert answer["date"] == last

        again = _child(url, last, {})
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err.decode()[-2000:]
        with reading(engine) as conn:
            assert int(conn.execute(select(func.count()).select_from(entries)).scalar_one()) == entry_count
        _verified(engine)
    finally:
        engine.dispose()
