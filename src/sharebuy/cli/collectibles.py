"""Operator commands for digital collectibles (数字藏品): create an edition from an image file,
list and show editions, redeem or give a token on a member's behalf, read a member's tokens with
their provenance, and print ERC-721 metadata.

There is no command that prices or sells a token: collectibles are redeemed with points and may
only be given away, after the holding period, to another real-name member (SPEC §10).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sharebuy.cli.output import STATE, emit
from sharebuy.collectibles import domain
from sharebuy.collectibles import service as collectibles
from sharebuy.kernel.clock import parse_moment
from sharebuy.kernel.errors import InvalidInput

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
Actor = Annotated[str, typer.Option("--actor", help="记录在案的操作人 · the operator on record")]
At = Annotated[str | None, typer.Option("--at", help="ISO-8601 时间，默认现在 · default now")]
collectibles_app = typer.Typer(help="数字藏品 · digital collectibles", no_args_is_help=True)


def _read_image(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(domain.MAX_IMAGE_BYTES + 1)  # more than the cap is refused anyway
    except OSError as error:
        raise InvalidInput(
            "image_unreadable", f"无法读取图片文件：{path}", f"cannot read the image file: {path} ({error})"
        ) from None


@collectibles_app.command("create")
def create(
    title_zh: Annotated[str, typer.Option("--title-zh", help="中文标题")],
    description_zh: Annotated[str, typer.Option("--description-zh", help="中文介绍")],
    supply: Annotated[str, typer.Option("--supply", help="发行量 N")],
    price: Annotated[str, typer.Option("--price", help="每枚所需积分")],
    opens: Annotated[str, typer.Option("--opens", help="兑换开始，ISO-8601")],
    closes: Annotated[str, typer.Option("--closes", help="兑换结束，ISO-8601")],
    image: Annotated[Path, typer.Option("--image", help="PNG、JPEG 或 WebP，最大 2 MB")],
    title_en: Annotated[str, typer.Option("--title-en")] = "",
    description_en: Annotated[str, typer.Option("--description-en")] = "",
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """新建藏品系列 · create an edition of N tokens from an image file."""
    made = collectibles.create_edition(
        STATE.engine(),
        title_zh=title_zh,
        title_en=title_en,
        description_zh=description_zh,
        description_en=description_en,
        supply=supply,
        price=price,
        opens_at=parse_moment(opens),
        closes_at=parse_moment(closes),
        image=_read_image(image),
        actor=actor,
    )
    emit(made, json_out, "edition")


@collectibles_app.command("list")
def list_(
    before: Annotated[int | None, typer.Option("--before", help="翻页：早于此系列 ID")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    json_out: Json = False,
) -> None:
    """藏品系列（最新在前）· editions, newest first."""
    emit({"editions": collectibles.list_editions(STATE.engine(), before=before, limit=limit)}, json_out)


@collectibles_app.command("show")
def show(edition_id: int, json_out: Json = False) -> None:
    """一个藏品系列 · one edition."""
    emit(collectibles.get_edition(STATE.engine(), edition_id), json_out, f"edition {edition_id}")


@collectibles_app.command("redeem")
def redeem(
    edition_id: int,
    consumer: Annotated[int, typer.Option("--consumer", help="兑换的会员（须实名）")],
    at: At = None,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """代会员兑换一枚（积分按规则销毁或回到储备）· redeem one token for a member."""
    moment = parse_moment(at) if at is not None else None
    emit(
        collectibles.redeem(STATE.engine(), edition_id, consumer, actor=actor, now=moment), json_out, "token"
    )


@collectibles_app.command("gift")
def gift(
    token_id: str,
    giver: Annotated[int, typer.Option("--from", help="现持有人")],
    to_phone: Annotated[str, typer.Option("--to-phone", help="受赠人手机号（须实名）")],
    at: At = None,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """代持有人转赠（持有期满后，不收费用）· give a token away on its owner's behalf."""
    moment = parse_moment(at) if at is not None else None
    found = collectibles.gift(STATE.engine(), token_id, giver, to_phone=to_phone, actor=actor, now=moment)
    emit(found, json_out, "token")


@collectibles_app.command("tokens")
def tokens(member: Annotated[int, typer.Option("--member")], json_out: Json = False) -> None:
    """会员的藏品及流转记录 · a member's tokens with their provenance."""
    emit({"member": member, "tokens": collectibles.tokens_of(STATE.engine(), member)}, json_out)


@collectibles_app.command("token")
def token(token_id: str, json_out: Json = False) -> None:
    """一枚藏品及其流转记录 · one token and its provenance."""
    emit(collectibles.get_token(STATE.engine(), token_id, operator=True), json_out, "token")


@collectibles_app.command("metadata")
def metadata(
    token_id: Annotated[str | None, typer.Option("--token", help="藏品 token id")] = None,
    edition_id: Annotated[int | None, typer.Option("--edition", help="系列 ID")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="图片地址的前缀；默认 sha256: 内容地址")
    ] = None,
    json_out: Json = True,
) -> None:
    """ERC-721 元数据 JSON · ERC-721 metadata JSON of a token or an edition (always JSON)."""
    del json_out  # metadata is JSON by nature: the flag is accepted and changes nothing
    if (token_id is None) == (edition_id is None):
        raise InvalidInput(
            "token_or_edition",
            "请指定 --token 或 --edition 之一",
            "give exactly one of --token and --edition",
        )
    engine = STATE.engine()
    if token_id is not None:
        found = collectibles.token_metadata(engine, token_id, base_url=base_url)
    else:
        assert edition_id is not None
        found = collectibles.edition_metadata(engine, edition_id, base_url=base_url)
    emit(found, True)


def register(app: typer.Typer) -> None:
    app.add_typer(collectibles_app, name="collectibles")
