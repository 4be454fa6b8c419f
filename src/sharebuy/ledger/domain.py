"""Pure ledger rules: account kinds, balance per asset (I1), canonical encoding and hashing (I7).

Standard library only, so verify, the services and the tests share one definition.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sharebuy.kernel.errors import IntegrityViolation

PT = "PT"
SV = "SV"
GENESIS_HASH = "0" * 64

# kind -> (asset, may go negative, may go positive)
MEMBER_KINDS: Mapping[str, tuple[str, bool, bool]] = {
    "sv": (SV, False, True),  # share value held (共享值)
    "sv_owed": (SV, True, False),  # clawback owed after a refund: a debt, never a credit
    "available": (PT, False, True),
    "escrow": (PT, False, True),
    "deposit": (PT, False, True),
}
PLATFORM_KINDS: Mapping[str, tuple[str, bool, bool]] = {
    "issue": (PT, True, False),  # contra account: minus the total issue, set at genesis
    "reserve": (PT, False, True),
    "burned": (PT, False, True),
    "fees": (PT, False, True),
    "sv_issued": (SV, True, False),  # contra: minus all share value ever minted, net of refunds
    "sv_retired": (SV, False, True),  # share value used up by the daily release
    "mall_escrow": (PT, False, True),  # points of open mall redemptions, until delivery or refund
}
# Points accounts whose sum must equal the total issue (I2).
POINT_HOLDING_KINDS = ("reserve", "burned", "fees", "available", "escrow", "deposit", "mall_escrow")


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting before it is written: a signed amount of one asset on one account."""

    account_id: int
    asset: str
    amount: int


def imbalance(legs: Iterable[Leg]) -> dict[str, int]:
    """Net amount per asset; empty when the legs balance (I1)."""
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        totals[leg.asset] += leg.amount
    return {asset: total for asset, total in totals.items() if total != 0}


def require_balanced(legs: list[Leg]) -> None:
    if not legs:
        raise IntegrityViolation("empty_entry", "分录没有过账行", "entry has no postings")
    if any(leg.amount == 0 for leg in legs):
        raise IntegrityViolation("zero_posting", "过账金额不能为零", "a posting amount is zero")
    off = imbalance(legs)
    if off:
        raise IntegrityViolation(
            "unbalanced_entry",
            f"分录不平衡：{off}",
            f"entry does not balance per asset: {off}",
        )


def merge_legs(legs: Iterable[Leg]) -> list[Leg]:
    """One posting per account and asset, zero nets dropped, in account order."""
    net: dict[tuple[int, str], int] = defaultdict(int)
    for leg in legs:
        net[(leg.account_id, leg.asset)] += leg.amount
    return [Leg(acc, asset, amt) for (acc, asset), amt in sorted(net.items()) if amt != 0]


# The immutable fields of an entry that its hash covers (with its postings).
CANONICAL_FIELDS = (
    "id",
    "kind",
    "business_day",
    "reference",
    "reason",
    "actor",
    "idempotency_key",
    "reverses_id",
    "rule_version",
    "created_at",
)


def canonical_entry(entry: Mapping[Any, Any], legs: Iterable[tuple[int, str, int]]) -> bytes:
    """The bytes hashed for an entry: its immutable fields and postings in account order."""

    def plain(value: object) -> object:
        if isinstance(value, datetime):
            # SQLite hands back naive UTC, PostgreSQL aware: hash one spelling of the instant.
            aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            return aware.isoformat(timespec="microseconds")
        if isinstance(value, date):
            return value.isoformat()
        return value

    body = {key: plain(entry[key]) for key in CANONICAL_FIELDS}
    body["postings"] = sorted([int(a), str(s), int(m)] for a, s, m in legs)
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """hash = SHA-256(previous hash ‖ canonical encoding) — SPEC §8."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()
