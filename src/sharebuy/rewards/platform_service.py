"""Starting the platform and changing its rulebook.

`initialise` writes the genesis entry: the whole fixed issue moves from the issue account to the
reserve, so I2 (reserve + holdings + fees + burned = total issue) holds from the first entry on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Conflict, InvalidInput, Refused
from sharebuy.kernel.text import check_note
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.ledger.service import seal_pending
from sharebuy.ledger.verify import Report, verify
from sharebuy.rewards import checks, repository
from sharebuy.rewards import rules as rulebook
from sharebuy.rewards.models import platform_state, purchases


def initialise(
    engine: Engine, *, start_day: date, overrides: Mapping[str, object] | None = None, actor: str = "operator"
) -> dict[str, Any]:
    book = rulebook.build(rulebook.defaults(), overrides or {}, version=1)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        if repository.is_initialised(uow.c):
            raise Conflict(
                "already_initialised",
                f"平台已于 {repository.start_day(uow.c)} 开始营业，不能重复初始化",
                f"the platform is already initialised (first business day {repository.start_day(uow.c)})",
            )
        uow.c.execute(
            insert(platform_state), {"id": 1, "start_day": start_day, "initialized_at": datetime.now(UTC)}
        )
        version_id = repository.insert_version(uow.c, book, start_day, actor, "initial rulebook")
        platform = ledger.open_platform_accounts(uow.c)
        ledger.init_chain(uow.c)
        total = book["total_issue"].units
        ledger.post(
            uow.c,
            kind="genesis",
            business_day=start_day,
            legs=[Leg(platform["issue"], PT, -total), Leg(platform["reserve"], PT, total)],
            reference="platform",
            reason="fixed total issue placed in the reserve",
            actor=actor,
            idempotency_key="genesis",
            rule_version=version_id,
        )
        uow.commit()
        return {"start_date": start_day, "rule_version": version_id, "rules": book.as_text()}

    result = transaction(engine, work)
    seal_pending(engine, wait=True)
    return result


def show_rules(engine: Engine, *, day: date | None = None, now: datetime | None = None) -> dict[str, Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        start = repository.start_day(uow.c)
        on = day or max(business_day(now or datetime.now(UTC)), start)
        version_id = repository.version_id_for(uow.c, max(on, start))
        book = repository.version(uow.c, version_id)
        history = repository.versions(uow.c)
    return {
        "date": on,
        "version": version_id,
        "rules": book.as_text(),
        "versions": [
            {
                "version": v["id"],
                "effective_from": v["effective_from"],
                "actor": v["actor"],
                "note": v["note"],
            }
            for v in history
        ],
    }


def set_rules(
    engine: Engine,
    changes: Mapping[str, str],
    *,
    effective_from: date,
    actor: str = "operator",
    note: str = "",
) -> dict[str, Any]:
    """A new rule version from `effective_from` on; earlier days keep the rules they ran on."""
    if not changes:
        raise InvalidInput("no_changes", "没有给出要修改的规则", "no rule changes were given")
    # The note is shown beside the version in the rulebook's history, to every operator.
    check_note(note)
    for key in changes:
        spec = rulebook.SPECS.get(key)
        if spec is None:
            raise rulebook.unknown_key(key)
        if spec.fixed_after_init:
            raise Refused(
                "rule_fixed",
                f"规则 {key}（{spec.zh}）在平台开始后不能修改",
                f"rule {key} is fixed once the platform has started",
            )

    def work(uow: UnitOfWork) -> dict[str, Any]:
        start = repository.start_day(uow.c)
        if effective_from < start:
            raise Refused(
                "before_start",
                f"生效日不能早于平台开始营业日 {start}",
                f"the effective date cannot precede the first business day {start}",
            )
        recorded = [
            d
            for d in (
                repository.last_started_day(uow.c),
                uow.c.execute(select(func.max(purchases.c.business_day))).scalar(),
            )
            if d is not None
        ]
        if recorded and effective_from <= max(recorded):
            raise Refused(
                "rules_in_past",
                f"生效日必须晚于已有记录的最后一个营业日 {max(recorded)}",
                f"the effective date must come after {max(recorded)}, the last business day with records",
            )
        base_id = repository.version_id_for(uow.c, effective_from)
        book = rulebook.build(repository.version(uow.c, base_id), changes)
        version_id = repository.insert_version(uow.c, book, effective_from, actor, note)
        uow.commit()
        return {
            "version": version_id,
            "effective_from": effective_from,
            # As stored, at full precision ("1e3" was echoed as typed; the rulebook holds 1000.0000).
            "changes": {key: text for key, text in book.as_text().items() if key in changes},
            "rules": book.as_text(),
        }

    return transaction(engine, work)


def verify_platform(engine: Engine) -> Report:
    """Every invariant of SPEC §8; a database never initialised has nothing to vouch for."""
    with reading(engine) as conn:
        repository.start_day(conn)
    return verify(engine, checks.CHECKS)
