"""Small pieces of user-facing wording shared by the command line and the window."""

from __future__ import annotations

import re


def counted(n: int, noun: str) -> str:
    """``1 photo``, ``2 photos``, ``1,000 photos`` (nouns with a plain -s plural)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    c = match.group()
    code = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: object) -> str:
    """``text`` (a path, or a message quoting one) safe to print on a terminal: control characters
    (an escape sequence, a newline that would fake a line), bidirectional overrides and the bytes
    of a name that is not UTF-8 are written as escapes (``\\x1b``, ``\\n``, ``\\xe9``)."""
    value = str(text)
    return _UNPRINTABLE.sub(_escaped, value) if not value.isprintable() or not value.isascii() else value


#: said above results none of which is a good match (relevance under 50: core/search/relevance.py)
NO_GOOD_MATCHES = "No good matches \u2014 closest photos below"
