"""Free text that people type and others read: what may be stored and shown.

Names, labels and notes are shown to other people (on pages, in CSV statements, in the audit
trail). A control or format character in them (a right-to-left override, a zero-width space, a
bell) can make one label pass for another, and U+0000 cannot be stored in PostgreSQL at all.
"""

from __future__ import annotations

from sharebuy.kernel.errors import InvalidInput


def displayable(text: str, *, multiline: bool = False) -> bool:
    """True when every character can be shown as it is (with `multiline`, also newlines and tabs)."""
    return all(ch.isprintable() or (multiline and ch in "\n\t") for ch in text)


def clean_text(text: object, what_zh: str, what_en: str, *, limit: int = 500, required: bool = True) -> str:
    """Trimmed free text of at most `limit` displayable characters (newlines and tabs allowed)."""
    value = str(text or "").strip()
    if required and not value:
        raise InvalidInput("text_required", f"请填写{what_zh}", f"{what_en} is required")
    if len(value) > limit or not displayable(value, multiline=True):
        raise InvalidInput(
            "invalid_text",
            f"{what_zh}最多 {limit} 个可打印字符",
            f"{what_en} takes at most {limit} printable characters",
        )
    return value


def check_note(note: str) -> None:
    """An operator's note, shown to every operator beside what it explains."""
    if len(note) > 500:
        raise InvalidInput("note_too_long", "备注最多 500 个字符", "a note takes at most 500 characters")
    if not displayable(note, multiline=True):
        raise InvalidInput(
            "note_not_printable",
            "备注含有不可显示的字符",
            "the note contains characters that cannot be displayed",
        )
