"""Free text a merchant or customer sends that ends up in e-mails (subjects, headers), receipts and
pages: a single line has no line break and no control character; a multi-line text (an address)
may break lines and has no other control character. Pure: used by the request models (422
naming the field) and again by the domain when a value changes."""

from __future__ import annotations

import unicodedata

# Cc: C0 controls, DEL and C1 controls (NEL among them); Zl, Zp: the Unicode line and paragraph separators.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})
_LINE_BREAKS = frozenset("\r\n")
SINGLE_LINE_MESSAGE = "must not contain line breaks or control characters"
MULTI_LINE_MESSAGE = "must not contain control characters other than line breaks"


def single_line(value: str) -> str:
    """`value` if it is one line of text; ValueError otherwise."""
    if any(unicodedata.category(c) in _BREAKING for c in value):
        raise ValueError(SINGLE_LINE_MESSAGE)
    return value


def lines(value: str) -> str:
    """`value` if it is lines of text (CR and LF allowed); ValueError otherwise."""
    if any(c not in _LINE_BREAKS and unicodedata.category(c) in _BREAKING for c in value):
        raise ValueError(MULTI_LINE_MESSAGE)
    return value


def one_line(value: str) -> str:
    """`value` made one line (each line break or control character a space): for what was stored
    before these rules, where one line is required (an e-mail's subject)."""
    return "".join(" " if unicodedata.category(c) in _BREAKING else c for c in value)
