"""The pages' languages: Babel catalogues, Jinja2 environments and display filters.

English is the source language of every message (the msgids); 简体中文 comes from the catalogue
`locale/zh_Hans_CN/LC_MESSAGES/messages.po`, compiled to the `.mo` beside it, which is checked in
(`make messages` extracts, updates and compiles; a test keeps the `.mo` in step with the `.po`).
"""

from __future__ import annotations

import gettext
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from sharebuy.kernel.clock import BUSINESS_TZ

WEB = Path(__file__).resolve().parent.parent
TEMPLATES = WEB / "templates"
LOCALE = WEB / "locale"
LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
BABEL_LOCALES = {"zh": "zh_Hans_CN", "en": "en"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined; it is translated where it is shown."""
    return message


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return NullTranslations()
    return Translations.load(str(LOCALE), [BABEL_LOCALES[lang]], domain="messages")


def gettext_for(lang: str, message: str, **values: Any) -> str:
    text = translations(lang).gettext(message)
    return text % values if values else text


# -- display filters: formatting only, never arithmetic on amounts ----------------------------


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:  # stored naive in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BUSINESS_TZ)


def local_time(value: Any, seconds: bool = False) -> str:
    """A moment in Beijing time, as people there read it: 2025-03-01 14:05."""
    moment = _moment(value)
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def iso(value: Any) -> str:
    moment = _moment(value)
    return "" if moment is None else moment.isoformat()


def day_text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, date | datetime):
        return value.isoformat()[:10]
    return str(value)[:10]


def percent(value: Any) -> str:
    """A rate written as a fraction ("0.1000") shown as a percentage ("10%"), exactly."""
    try:
        number = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    text = format(number.normalize(), "f")
    return f"{text}%"


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(("html", "xml")),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(local_time=local_time, iso=iso, day=day_text, percent=percent)
    from sharebuy.web.pages.labels import label  # labels are marked with N_ from this module

    env.globals.update(
        lang=lang, html_lang=HTML_LANG[lang], label=lambda group, code: label(lang, group, code)
    )
    return env
