"""Choosing the language of an answer: 简体中文 unless the caller prefers English."""

from __future__ import annotations


def language(accept_language: str | None) -> str:
    """`zh` or `en` from an Accept-Language header (RFC 9110 §12.5.4), zh by default."""
    if not accept_language:
        return "zh"
    best, best_q = "zh", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang is not None and q > best_q:
            best, best_q = lang, q
    return best
