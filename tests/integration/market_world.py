"""Market test helpers: traders with a real name, the risk notice accepted and payment methods,
points given from the reserve (as a release would), and a clock the tests move by hand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.kernel.amounts import Points
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.ledger.verify import verify
from sharebuy.market import service as market
from sharebuy.members import domain as member_domain
from sharebuy.members import service as members
from sharebuy.rewards import checks
from tests.integration.world import START, at, new_consumer

_serial = itertools.count(1)


def id_number() -> str:
    """A fresh valid GB 11643 number: Beijing Chaoyang, born 1990-01-01, a new sequence."""
    n = next(_serial)
    first17 = f"110105{19900101 + (n // 1000) % 27:08d}{n % 1000:03d}"
    return first17 + member_domain.id_check_character(first17)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: at(START, 10))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def fund(engine: Engine, member_id: int, amount: str) -> None:
    """Points from the reserve to a member's available (what a daily release does): I2 holds."""
    points = Points.parse(amount)

    def work(uow: UnitOfWork) -> None:
        platform = ledger.platform_accounts(uow.c)
        target = ledger.member_accounts(uow.c, member_id)["available"]
        ledger.post(
            uow.c,
            kind="grant",
            business_day=START,
            legs=[Leg(platform["reserve"], PT, -points.units), Leg(target, PT, points.units)],
            reference=f"test:{member_id}",
            reason="test funding",
            actor="test",
            platform_ids=platform.values(),
        )
        uow.commit()

    transaction(engine, work)


def make_ready(engine: Engine, member_id: int, *, now: datetime, consumer: int | None = None) -> int:
    """Real name (of the consumer, or of a merchant's owner), risk notice, Alipay and a bank card."""
    person = consumer if consumer is not None else member_id
    try:
        members.set_real_name(engine, person, "张三", id_number(), now=now)
    except Exception as error:  # already verified (a merchant's owner set up before)
        if getattr(error, "code", "") != "real_name_already_set":
            raise
    market.accept_risk_notice(engine, member_id, version=1, actor="test", now=now)
    market.add_payment_method(
        engine, member_id, kind="alipay", account_name="张三", account_id=f"1380000{member_id:04d}", now=now
    )
    market.add_payment_method(
        engine,
        member_id,
        kind="bank",
        account_name="张三",
        account_id=f"6222020000{member_id:06d}",
        bank_name="工商银行",
        now=now,
    )
    return member_id


def trader(engine: Engine, *, now: datetime, points: str = "0", name: str = "") -> int:
    member_id = new_consumer(engine, name)
    make_ready(engine, member_id, now=now)
    if points != "0":
        fund(engine, member_id, points)
    return member_id


def available(engine: Engine, member_id: int) -> Points:
    with UnitOfWork(engine, readonly=True) as uow:
        return Points(ledger.balances(uow.c, str(member_id))["available"])


def escrow(engine: Engine, member_id: int) -> Points:
    with UnitOfWork(engine, readonly=True) as uow:
        return Points(ledger.balances(uow.c, str(member_id))["escrow"])


def fees(engine: Engine) -> Points:
    with UnitOfWork(engine, readonly=True) as uow:
        return Points(ledger.balances(uow.c, "platform")["fees"])


def assert_verified(engine: Engine) -> dict[str, Any]:
    report = verify(engine, checks.CHECKS)
    assert report.ok, report.as_dict()
    return report.as_dict()
