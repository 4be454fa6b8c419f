"""Collectibles invariants for `verify`, recomputed from the tables and the journal:

- supply: each edition's minted count equals its tokens, never exceeds its supply, and its
  serials are exactly 1..minted; every token id is the one derived from its edition, serial and
  image hash; the image still hashes to its recorded SHA-256;
- provenance: each token's records run 1, 2, ... from a mint, and each hash is
  SHA-256(previous ‖ canonical record); the first bad record is named;
- ownership: a token's owner is the last record's recipient;
- payment: each mint names the ledger entry that paid for it (the recipient's available points
  down by the edition's price, burn or reserve up by as much), and no redemption entry pays for
  nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from sharebuy.collectibles import domain
from sharebuy.collectibles.models import editions, provenance, tokens
from sharebuy.collectibles.service import REDEEM_KIND
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.models import accounts, entries
from sharebuy.ledger.verify import Check, Report


def supply_holds(conn: Connection, report: Report) -> Check:
    check = Check("collectibles_supply")
    minted_tokens = conn.execute(select(tokens.c.edition_id, tokens.c.serial, tokens.c.token_id)).all()
    serials: dict[int, list[int]] = defaultdict(list)
    for row in minted_tokens:
        serials[int(row.edition_id)].append(int(row.serial))
    found = conn.execute(
        select(editions.c.id, editions.c.supply, editions.c.minted, editions.c.image_sha256, editions.c.image)
    ).all()
    derived: dict[int, str] = {}
    for edition in found:
        edition_id, supply, minted = int(edition.id), int(edition.supply), int(edition.minted)
        derived[edition_id] = str(edition.image_sha256)
        have = sorted(serials.get(edition_id, []))
        if hashlib.sha256(bytes(edition.image)).hexdigest() != edition.image_sha256:
            check.fail(f"edition {edition_id}: its image no longer matches its SHA-256")
        if minted > supply or len(have) > supply:
            check.fail(f"edition {edition_id}: {max(minted, len(have))} minted, above its supply {supply}")
        if have != list(range(1, len(have) + 1)):
            check.fail(f"edition {edition_id}: serials {have[:12]} are not 1..{len(have)}")
        if minted != len(have):
            check.fail(f"edition {edition_id}: says {minted} minted but has {len(have)} tokens")
    for row in minted_tokens:
        expected = domain.token_id(int(row.edition_id), int(row.serial), derived.get(int(row.edition_id), ""))
        if row.token_id != expected:
            check.fail(
                f"token {row.token_id} is not the id derived from edition {row.edition_id} #{row.serial}"
            )
    report.facts["collectibles"] = {
        "editions": len(found),
        "tokens": sum(len(v) for v in serials.values()),
    }
    return check


def provenance_chains(conn: Connection, report: Report) -> Check:
    check = Check("collectibles_provenance")
    owners = {
        str(r.token_id): int(r.owner_id) for r in conn.execute(select(tokens.c.token_id, tokens.c.owner_id))
    }
    chains: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(select(provenance).order_by(provenance.c.token_id, provenance.c.seq)).mappings():
        chains[str(row["token_id"])].append(row)
    for token_id in sorted(owners):
        records = chains.get(token_id, [])
        if not records:
            check.fail(f"token {token_id} has no provenance")
            continue
        prev = domain.GENESIS_HASH
        for position, row in enumerate(records, start=1):
            expected_kind = domain.MINT if position == 1 else domain.GIFT
            if int(row["seq"]) != position or row["kind"] != expected_kind:
                check.fail(
                    f"token {token_id}: provenance record {row['id']} is out of place (seq {row['seq']})"
                )
                break
            if position > 1 and row["from_member"] != records[position - 2]["to_member"]:
                check.fail(f"token {token_id}: record {row['id']} gives from someone who did not hold it")
                break
            digest = domain.record_hash(prev, domain.canonical_record(row))
            if row["prev_hash"] != prev or row["hash"] != digest:
                check.fail(
                    f"token {token_id}: provenance record {row['id']} (seq {row['seq']}) does not match its hash"
                )
                break
            prev = digest
        if int(records[-1]["to_member"]) != owners[token_id]:
            check.fail(
                f"token {token_id}: owner {owners[token_id]} is not the last record's recipient "
                f"{records[-1]['to_member']}"
            )
    stray = sorted(set(chains) - set(owners))
    if stray:
        check.fail(f"provenance for unknown token {stray[0]}")
    return check


def mints_paid(conn: Connection, report: Report) -> Check:
    check = Check("collectibles_paid")
    prices = {int(r.id): int(r.price) for r in conn.execute(select(editions.c.id, editions.c.price))}
    mints = conn.execute(
        select(provenance.c.entry_id, provenance.c.to_member, tokens.c.edition_id, tokens.c.token_id)
        .join(tokens, tokens.c.token_id == provenance.c.token_id)
        .where(provenance.c.kind == domain.MINT)
    ).all()
    paid = {int(e) for (e,) in conn.execute(select(entries.c.id).where(entries.c.kind == REDEEM_KIND))}
    kinds = {
        int(r.id): (r.member_id, r.kind)
        for r in conn.execute(select(accounts.c.id, accounts.c.member_id, accounts.c.kind))
    }
    used: set[int] = set()
    legs = ledger.legs_of(conn, [int(m.entry_id) for m in mints if m.entry_id is not None]) if mints else {}
    for mint in mints:
        if mint.entry_id is None or int(mint.entry_id) not in paid:
            check.fail(f"token {mint.token_id} was minted without a redemption entry")
            continue
        entry_id = int(mint.entry_id)
        used.add(entry_id)
        price = prices[int(mint.edition_id)]
        expected = {
            (int(mint.to_member), "available", -price),
        }
        got = {(kinds[a][0], kinds[a][1], amt) for a, _s, amt in legs[entry_id] if kinds[a][0] is not None}
        destination = sum(amt for a, _s, amt in legs[entry_id] if kinds[a][1] in ("burned", "reserve"))
        if got != expected or destination != price:
            check.fail(f"token {mint.token_id}: entry {entry_id} does not pay its price {price}", entry_id)
    unused = sorted(paid - used)
    if unused:
        check.fail(f"redemption entry {unused[0]} pays for no token", unused[0])
    return check


CHECKS = (supply_holds, provenance_chains, mints_paid)
