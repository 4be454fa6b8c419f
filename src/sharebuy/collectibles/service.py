"""Collectibles use cases (SPEC §7, §10): each opens one unit of work, does the whole job, and
commits once.

- an operator creates an edition: titles, descriptions, an image, supply N, a price in points
  and a redemption window;
- a consumer with a verified real name redeems one token inside the window: the points go to
  `collectible_points_destination` (burn or the reserve) through the ledger, and the token gets
  the next serial n/N, its derived token id and its first provenance record (the mint);
- the owner may give a token to another real-name consumer once `collectible_hold_days` have
  passed since it was acquired: a new provenance record, linked by hash to the one before.

Nothing here sells, prices or lists a token for money: there is no such use case (SPEC §10).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, update

from sharebuy.collectibles import domain, repository
from sharebuy.collectibles.models import editions, provenance, tokens
from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.clock import business_day, parse_moment
from sharebuy.kernel.errors import InvalidInput, Refused, not_found
from sharebuy.kernel.text import clean_text
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.ledger.service import seal_soon
from sharebuy.rewards import repository as rewards
from sharebuy.rewards.rules import Rulebook

REDEEM_KIND = "collectible_redeem"
_REASON = {"burn": "销毁 · burned", "reserve": "回到储备 · back to the reserve"}


def aware(moment: datetime) -> datetime:
    """Every stored moment is UTC; SQLite hands them back naive."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _now(now: datetime | None) -> datetime:
    return aware(now or datetime.now(UTC))


def _moment(value: object, what: str) -> datetime:
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, str) and value.strip():
        return parse_moment(value)
    raise InvalidInput("invalid_datetime", f"{what} 须为 ISO-8601 时间", f"{what} must be an ISO-8601 time")


def _rules(conn: Connection, now: datetime) -> Rulebook:
    return rewards.rules_for(conn, max(business_day(now), rewards.start_day(conn)))


def _posting_day(conn: Connection, now: datetime) -> date:
    """Today's business day, never before the first one, nor a day whose settlement has begun."""
    day = max(business_day(now), rewards.start_day(conn))
    started = rewards.last_started_day(conn)
    if started is not None and day <= started:
        day = started + timedelta(days=1)
    return day


# -- views -------------------------------------------------------------------------------------


def status_at(row: Any, now: datetime) -> str:
    if int(row["minted"]) >= int(row["supply"]):
        return "sold_out"
    if now < aware(row["opens_at"]):
        return "upcoming"
    if now >= aware(row["closes_at"]):
        return "closed"
    return "open"


def edition_view(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "title_zh": row["title_zh"],
        "title_en": row["title_en"],
        "description_zh": row["description_zh"],
        "description_en": row["description_en"],
        "supply": int(row["supply"]),
        "minted": int(row["minted"]),
        "remaining": int(row["supply"]) - int(row["minted"]),
        "price": Points(int(row["price"])),
        "opens_at": aware(row["opens_at"]),
        "closes_at": aware(row["closes_at"]),
        "status": status_at(row, now),
        "image_type": row["image_type"],
        "image_size": int(row["image_size"]),
        "image_sha256": row["image_sha256"],
        "created_at": aware(row["created_at"]),
    }


def token_view(row: Any, edition: Any, hold_days: int) -> dict[str, Any]:
    return {
        "token_id": row["token_id"],
        "edition_id": int(row["edition_id"]),
        "serial": int(row["serial"]),
        "supply": int(edition["supply"]),
        "title_zh": edition["title_zh"],
        "title_en": edition["title_en"],
        "content_hash": edition["image_sha256"],
        "owner_id": int(row["owner_id"]),
        "minted_at": aware(row["minted_at"]),
        "acquired_at": aware(row["acquired_at"]),
        "giftable_from": domain.giftable_from(aware(row["acquired_at"]), hold_days),
    }


def record_view(row: Any) -> dict[str, Any]:
    return {
        "seq": int(row["seq"]),
        "kind": row["kind"],
        "from_member": None if row["from_member"] is None else int(row["from_member"]),
        "to_member": int(row["to_member"]),
        "entry_id": None if row["entry_id"] is None else int(row["entry_id"]),
        "at": aware(row["at"]),
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }


# -- editions ----------------------------------------------------------------------------------


def _supply(value: object) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= domain.MAX_SUPPLY:
        raise InvalidInput(
            "invalid_supply",
            f"发行量须为 1 到 {domain.MAX_SUPPLY} 的整数",
            f"supply must be a whole number 1..{domain.MAX_SUPPLY}",
        )
    return int(text)


def _price(value: object) -> Points:
    price = Points.parse(value)
    if not price.is_positive() or price > Points.parse("1000000"):
        raise InvalidInput(
            "invalid_price",
            "兑换所需积分须在 0.0001 到 1000000 之间",
            "the price must lie in 0.0001..1000000 points",
        )
    return price


def create_edition(
    engine: Engine,
    *,
    title_zh: str,
    description_zh: str,
    supply: object,
    price: object,
    opens_at: object,
    closes_at: object,
    image: bytes,
    actor: str,
    title_en: str = "",
    description_en: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """An operator's new edition of `supply` tokens, redeemable for `price` points in the window."""
    moment = _now(now)
    window = (_moment(opens_at, "opens_at"), _moment(closes_at, "closes_at"))
    if not window[0] < window[1]:
        raise InvalidInput(
            "invalid_window", "兑换开始时间须早于结束时间", "the redemption window must open before it closes"
        )
    values: dict[str, Any] = {
        "title_zh": clean_text(title_zh, "标题", "title", limit=100),
        "title_en": clean_text(title_en, "英文标题", "English title", limit=100, required=False),
        "description_zh": clean_text(description_zh, "介绍", "description", limit=2000),
        "description_en": clean_text(
            description_en, "英文介绍", "English description", limit=2000, required=False
        ),
        "supply": _supply(supply),
        "minted": 0,
        "price": _price(price).units,
        "opens_at": window[0],
        "closes_at": window[1],
        "created_by": actor,
        "created_at": moment,
    }
    content_type, digest = domain.check_image(image)
    values.update(image_type=content_type, image_size=len(image), image_sha256=digest, image=image)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        rewards.start_day(uow.c)  # refuses on a platform not initialised
        edition_id = repository.insert_row(uow.c, editions, values)
        view = edition_view(repository.edition(uow.c, edition_id), moment)
        uow.commit()
        return view

    return transaction(engine, work)


def list_editions(
    engine: Engine, *, before: int | None = None, limit: int = 50, now: datetime | None = None
) -> list[dict[str, Any]]:
    moment = _now(now)
    with reading(engine) as conn:
        return [edition_view(r, moment) for r in repository.edition_list(conn, before=before, limit=limit)]


def get_edition(engine: Engine, edition_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    with reading(engine) as conn:
        return edition_view(repository.edition(conn, edition_id), _now(now))


def edition_image(engine: Engine, edition_id: int) -> tuple[str, bytes, str]:
    """(content type, bytes, sha256) of an edition's image."""
    with reading(engine) as conn:
        row = repository.image(conn, edition_id)
        return str(row["image_type"]), bytes(row["image"]), str(row["image_sha256"])


def edition_metadata(engine: Engine, edition_id: int, *, base_url: str | None = None) -> dict[str, Any]:
    with reading(engine) as conn:
        return domain.edition_metadata(repository.edition(conn, edition_id), base_url)


# -- who may hold a token ----------------------------------------------------------------------


def require_real_name(conn: Connection, member_id: int, *, recipient: bool = False) -> None:
    """Only a consumer with a verified real name, not frozen, redeems or receives (SPEC §10)."""
    row = repository.person(conn, member_id)
    if row is None:
        raise not_found("会员", "member", member_id)
    if row["kind"] != "consumer":
        raise Refused(
            "consumers_only", "只有消费者会员可以持有数字藏品", "only consumers may hold digital collectibles"
        )
    if row["frozen"]:
        raise Refused("member_frozen", f"会员 {member_id} 已冻结", f"member {member_id} is frozen")
    if row["real_name_verified_at"] is None:
        if recipient:
            raise Refused(
                "recipient_real_name_required",
                "受赠人须先完成实名登记",
                "the recipient must have a verified real name",
            )
        raise Refused(
            "real_name_required",
            "兑换数字藏品前须完成实名登记",
            "redeeming a digital collectible needs a verified real name first",
        )


# -- redeeming ---------------------------------------------------------------------------------


def _append_record(conn: Connection, record: dict[str, Any], prev_hash: str) -> str:
    digest = domain.record_hash(prev_hash, domain.canonical_record(record))
    repository.insert_row(conn, provenance, {**record, "prev_hash": prev_hash, "hash": digest})
    return digest


def redeem(
    engine: Engine, edition_id: int, consumer_id: int, *, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Redeem one token of an edition for its price in points; the next serial, atomically."""
    moment = _now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        book = _rules(conn, moment)
        row = repository.edition(conn, edition_id, lock=True)
        if moment < aware(row["opens_at"]):
            raise Refused("redemption_not_open", "兑换尚未开始", "redemption has not opened yet")
        if moment >= aware(row["closes_at"]):
            raise Refused("redemption_closed", "兑换已结束", "redemption has closed")
        serial = int(row["minted"]) + 1
        if serial > int(row["supply"]):
            raise Refused("sold_out", "该系列已全部兑换完", "every token of this edition has been redeemed")
        require_real_name(conn, consumer_id)
        price = Points(int(row["price"]))
        destination = str(book["collectible_points_destination"])
        locked = ledger.lock_member_accounts(conn, [consumer_id])
        own = locked[consumer_id]
        if Points(own["available"][1]) < price:
            raise Refused(
                "insufficient_points",
                f"可用积分 {Points(own['available'][1])} 不足 {price}",
                f"available points {Points(own['available'][1])} are fewer than {price}",
                available=Points(own["available"][1]),
                needed=price,
            )
        target = ledger.platform_accounts(conn)["burned" if destination == "burn" else "reserve"]
        token = domain.token_id(edition_id, serial, row["image_sha256"])
        entry_id = ledger.post(
            conn,
            kind=REDEEM_KIND,
            business_day=_posting_day(conn, moment),
            legs=[Leg(own["available"][0], PT, -price.units), Leg(target, PT, price.units)],
            reference=f"collectible:{edition_id}:{serial}",
            reason=f"藏品兑换 · collectible {edition_id} #{serial}: {_REASON[destination]}",
            actor=actor,
            rule_version=book.version,
            platform_ids=[target],
            locked=locked.flat(),
        )
        conn.execute(update(editions).where(editions.c.id == edition_id).values(minted=serial))
        repository.insert_row(
            conn,
            tokens,
            {
                "token_id": token,
                "edition_id": edition_id,
                "serial": serial,
                "owner_id": consumer_id,
                "acquired_at": moment,
                "minted_at": moment,
            },
        )
        record = {
            "token_id": token,
            "seq": 1,
            "kind": domain.MINT,
            "from_member": None,
            "to_member": consumer_id,
            "entry_id": entry_id,
            "at": moment,
            "actor": actor,
        }
        _append_record(conn, record, domain.GENESIS_HASH)
        view = _token_with_history(conn, token, book)
        uow.commit()
        return view

    result = transaction(engine, work)
    seal_soon(engine)
    return result


def _token_with_history(conn: Connection, token: str, book: Rulebook) -> dict[str, Any]:
    row = repository.token(conn, token)
    edition = repository.edition(conn, int(row["edition_id"]))
    view = token_view(row, edition, int(book["collectible_hold_days"]))
    view["provenance"] = [record_view(r) for r in repository.records(conn, token)]
    return view


# -- gifting -----------------------------------------------------------------------------------


def gift(
    engine: Engine,
    token_id: str,
    giver_id: int,
    *,
    to_phone: str | None = None,
    to_member: int | None = None,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Give a token to another real-name consumer, once the holding period has passed.

    No price, no payment: a gift moves no points, and nothing in the platform sells a token.
    """
    moment = _now(now)
    if (to_phone is None) == (to_member is None):
        raise InvalidInput(
            "recipient_required", "请指定一位受赠人（手机号）", "name exactly one recipient (by phone)"
        )

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        book = _rules(conn, moment)
        row = repository.token(conn, token_id, lock=True)
        if int(row["owner_id"]) != giver_id:
            raise not_found("藏品", "token", token_id)  # a stranger learns nothing about the token
        ready = domain.giftable_from(aware(row["acquired_at"]), int(book["collectible_hold_days"]))
        if moment < ready:
            raise Refused(
                "holding_period",
                f"持有满 {book['collectible_hold_days']} 天后才能转赠（{ready.date().isoformat()} 起）",
                f"a token can be given away after {book['collectible_hold_days']} days of holding "
                f"(from {ready.date().isoformat()})",
                giftable_from=ready.isoformat(),
            )
        recipient = to_member if to_member is not None else repository.consumer_by_phone(conn, str(to_phone))
        if recipient is None:
            raise Refused("recipient_unknown", "找不到该手机号的会员", "no member has this phone number")
        if recipient == giver_id:
            raise Refused("gift_to_self", "不能转赠给自己", "a token cannot be given to oneself")
        require_real_name(conn, recipient, recipient=True)
        last = repository.last_record(conn, token_id)
        record = {
            "token_id": token_id,
            "seq": int(last["seq"]) + 1,
            "kind": domain.GIFT,
            "from_member": giver_id,
            "to_member": recipient,
            "entry_id": None,
            "at": moment,
            "actor": actor,
        }
        _append_record(conn, record, str(last["hash"]))
        conn.execute(
            update(tokens).where(tokens.c.token_id == token_id).values(owner_id=recipient, acquired_at=moment)
        )
        view = _token_with_history(conn, token_id, book)
        uow.commit()
        return view

    return transaction(engine, work)


# -- reading tokens ----------------------------------------------------------------------------


def _hold_days(conn: Connection, now: datetime) -> int:
    return int(_rules(conn, now)["collectible_hold_days"])


def tokens_of(engine: Engine, member_id: int, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """A member's tokens, newest first, each with its provenance."""
    moment = _now(now)
    with reading(engine) as conn:
        book = _rules(conn, moment)
        return [
            _token_with_history(conn, str(r["token_id"]), book) for r in repository.tokens_of(conn, member_id)
        ]


def get_token(
    engine: Engine,
    token_id: str,
    *,
    members: frozenset[int] = frozenset(),
    operator: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A token with its provenance, for its owner or an operator; to anyone else it does not exist."""
    moment = _now(now)
    with reading(engine) as conn:
        row = repository.token(conn, token_id)
        if not operator and int(row["owner_id"]) not in members:
            raise not_found("藏品", "token", token_id)
        return _token_with_history(conn, token_id, _rules(conn, moment))


def token_metadata(engine: Engine, token_id: str, *, base_url: str | None = None) -> dict[str, Any]:
    """ERC-721 JSON of a token: public, it names no owner."""
    with reading(engine) as conn:
        row = repository.token(conn, token_id)
        edition = repository.edition(conn, int(row["edition_id"]))
        return domain.token_metadata(edition, int(row["serial"]), token_id, base_url)
