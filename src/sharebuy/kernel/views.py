"""Turning results into plain JSON-ready values: amounts as full-precision strings."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sharebuy.kernel.amounts import Amount

# Values JSON takes as they are: answered before any other test (an event or a page holds mostly
# these, and `dataclasses.is_dataclass` below is the slowest of the tests).
_AS_IS = frozenset({int, str, bool, type(None)})


def plain(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, Amount):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
