"""Choosing the language of an answer: 简体中文 unless the caller prefers English."""

from __future__ import annotations

import re
from decimal import Decimal

# RFC 9110 §12.4.2: a weight is 0 to 1 with at most three decimals, compared exactly.
_WEIGHT = re.compile(r"q=(0(\.[0-9]{0,3})?|1(\.0{0,3})?)", re.IGNORECASE)


def language(accept_language: str | None) -> str:
    """`zh` or `en` from an Accept-Language header (RFC 9110 §12.5.4), zh by default."""
    if not accept_language:
        return "zh"
    best, best_q = "zh", Decimal(-1)
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = Decimal(1)
        params = params.strip()
        if params[:2].lower() == "q=":
            weight = _WEIGHT.fullmatch(params)
            if weight is None:
                continue
            q = Decimal(params[2:])
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang is not None and q > best_q:
            best, best_q = lang, q
    return best
