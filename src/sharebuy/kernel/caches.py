"""Process-wide caches of immutable rows (platform account ids, rule versions).

They are keyed by database URL; tests that rebuild a database under the same URL clear them.
"""

from __future__ import annotations

from collections.abc import Callable

_clearers: list[Callable[[], None]] = []


def register(clear: Callable[[], None]) -> None:
    _clearers.append(clear)


def clear() -> None:
    for clear_one in _clearers:
        clear_one()
