"""The pages' 简体中文 catalogue: every message the pages show is translated, keeps its
placeholders, and the checked-in .mo is the compiled .po."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from sharebuy.web.pages.text import LOCALE

ROOT = Path(__file__).resolve().parents[2]
PO = LOCALE / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%")


def _catalogue() -> dict[str, str]:
    with PO.open("rb") as f:
        return {str(m.id): str(m.string) for m in read_po(f) if m.id}


def _extracted() -> set[str]:
    found: set[str] = set()
    methods = [("**/pages/**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "N_": None}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "src" / "sharebuy" / "web"), method_map=methods, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_of_the_pages_is_translated() -> None:
    catalogue = _catalogue()
    missing = sorted(m for m in _extracted() if not catalogue.get(m))
    assert not missing, f"translate these in {PO} (make messages): {missing}"


def test_translations_keep_their_placeholders() -> None:
    for msgid, text in _catalogue().items():
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(text)), msgid


def test_the_compiled_catalogue_is_up_to_date() -> None:
    with MO.open("rb") as f:
        compiled = {str(m.id): str(m.string) for m in read_mo(f) if m.id}
    assert compiled == _catalogue(), "run `make messages` to compile the catalogue"
