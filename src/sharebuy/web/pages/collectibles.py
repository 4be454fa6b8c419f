"""The collectibles pages (SPEC §7, §10): the consumer's gallery of editions with a redeem
button, my tokens with their provenance and a gift form, and the operators' list of editions
with the creation form and its image upload (admins).

Pages hold no rule: they call the same services as the API.  There is no page that prices or
sells a token.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response

from sharebuy.collectibles import domain
from sharebuy.collectibles import service as collectibles
from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.web.api.common import plain
from sharebuy.web.pages.common import FormDep, Page, PageDep, PageRoute, field_errors, member_of
from sharebuy.web.pages.operator import admin_of, operator_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CREATE_FIELDS = {
    "text_required": "title_zh",
    "invalid_text": "description_zh",
    "invalid_supply": "supply",
    "invalid_price": "price",
    "invalid_decimal": "price",
    "too_many_decimals": "price",
    "float_refused": "price",
    "invalid_window": "closes_at",
    "invalid_datetime": "opens_at",
    "unsupported_image": "image",
    "image_too_large": "image",
    "empty_image": "image",
    "file_required": "image",
}
GIFT_FIELDS = {
    "recipient_unknown": "to_phone",
    "recipient_real_name_required": "to_phone",
    "gift_to_self": "to_phone",
    "recipient_required": "to_phone",
    "consumers_only": "to_phone",
    "member_frozen": "to_phone",
}


# -- the gallery and redeeming --------------------------------------------------------------------


def _gallery(page: Page, status_code: int = 200, **context: Any) -> Response:
    member_of(page)
    return page.render(
        "collectibles/gallery.html",
        status_code=status_code,
        title=page._("Collectibles"),
        editions=plain(collectibles.list_editions(page.engine)),
        **context,
    )


@router.get("/collectibles")
def gallery(page: PageDep) -> Response:
    if page.user.is_operator:
        return page.redirect("/ops/collectibles")
    return _gallery(page)


@router.post("/collectibles/{edition_id}/redeem")
def redeem(page: PageDep, form: FormDep, edition_id: int) -> Response:
    member = member_of(page)

    def effect() -> dict[str, Any]:
        return collectibles.redeem(page.engine, edition_id, member, actor=page.user.scope)

    try:
        token, _replayed = page.once(form.key, {"edition_id": edition_id}, effect)
    except SharebuyError as error:
        return _gallery(page, error.status, failed=edition_id, error=page.error_text(error))
    text = page._(
        "Redeemed: serial %(serial)s of %(supply)s.", serial=token["serial"], supply=token["supply"]
    )
    return page.redirect(f"/collectibles/my#token-{token['token_id']}", text)


# -- my tokens and gifts ----------------------------------------------------------------------------


def _mine(page: Page, status_code: int = 200, **context: Any) -> Response:
    member = member_of(page)
    return page.render(
        "collectibles/my.html",
        status_code=status_code,
        title=page._("My collectibles"),
        held=plain(collectibles.tokens_of(page.engine, member)),
        now=datetime.now(UTC).isoformat(),
        **context,
    )


@router.get("/collectibles/my")
def mine(page: PageDep) -> Response:
    return _mine(page)


@router.post("/collectibles/tokens/{token_id}/gift")
def gift(page: PageDep, form: FormDep, token_id: str) -> Response:
    member = member_of(page)
    phone = form.get("to_phone")

    def effect() -> dict[str, Any]:
        return collectibles.gift(page.engine, token_id, member, to_phone=phone, actor=page.user.scope)

    try:
        page.once(form.key, {"token_id": token_id, "to_phone": phone}, effect)
    except SharebuyError as error:
        return _mine(
            page,
            error.status,
            failed=token_id,
            values=form.echo(),
            errors=field_errors(page, error, GIFT_FIELDS),
        )
    return page.redirect("/collectibles/my", page._("Given to %(phone)s.", phone=phone))


# -- the operators --------------------------------------------------------------------------------


def _console(page: Page, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    return page.render(
        "operator/collectibles.html",
        status_code=status_code,
        title=page._("Collectibles"),
        editions=plain(collectibles.list_editions(page.engine, limit=200)),
        is_admin=page.user.role == "admin",
        max_mb=domain.MAX_IMAGE_BYTES // 1024 // 1024,
        **context,
    )


@router.get("/ops/collectibles")
def console(page: PageDep) -> Response:
    return _console(page)


@router.post("/ops/collectibles")
async def create(page: PageDep, form: FormDep) -> Response:
    principal = admin_of(page)
    upload = form.files.get("image")
    data = await upload.read(domain.MAX_IMAGE_BYTES + 1) if upload is not None else b""
    fields = {
        name: form.get(name)
        for name in (
            "title_zh",
            "title_en",
            "description_zh",
            "description_en",
            "supply",
            "price",
            "opens_at",
            "closes_at",
        )
    }

    def effect() -> dict[str, Any]:
        if not data:
            raise InvalidInput("file_required", "请上传藏品图片", "upload the collectible's image")
        return collectibles.create_edition(
            page.engine,
            title_zh=fields["title_zh"],
            title_en=fields["title_en"],
            description_zh=fields["description_zh"],
            description_en=fields["description_en"],
            supply=fields["supply"],
            price=fields["price"],
            opens_at=fields["opens_at"],
            closes_at=fields["closes_at"],
            image=data,
            actor=principal.scope,
        )

    try:
        made, _replayed = page.once(form.key, {**fields, "image": hashlib.sha256(data).hexdigest()}, effect)
    except SharebuyError as error:
        return _console(
            page, error.status, values=form.echo(), errors=field_errors(page, error, CREATE_FIELDS)
        )
    return page.redirect(
        f"/ops/collectibles#edition-{made['id']}", page._("Edition %(id)s created.", id=made["id"])
    )
