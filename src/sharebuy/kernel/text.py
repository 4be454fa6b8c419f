"""Free text that people type and others read: what may be stored and shown.

Names, labels and notes are shown to other people (on pages, in CSV statements, in the audit
trail). A control or format character in them (a right-to-left override, a zero-width space, a
bell) can make one label pass for another, and U+0000 cannot be stored in PostgreSQL at all.
"""

from __future__ import annotations


def displayable(text: str, *, multiline: bool = False) -> bool:
    """True when every character can be shown as it is (with `multiline`, also newlines and tabs)."""
    return all(ch.isprintable() or (multiline and ch in "\n\t") for ch in text)
