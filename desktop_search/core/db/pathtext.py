"""Paths whose names are not valid Unicode, stored losslessly as valid UTF-8 text.

A file name on Linux is bytes; Python reads one that is not UTF-8 (``caf\\xe9.jpg`` from an old
camera or another system) with ``surrogateescape``: the byte 0xE9 becomes the lone surrogate
U+DCE9, and ``open()`` gives the same bytes back. On Windows a name may hold an unpaired UTF-16
surrogate. SQLite's driver refuses lone surrogates (they cannot be UTF-8), so in the database a
lone surrogate is written as U+10FFFD (a private-use character) and its four hex digits, and a
U+10FFFD in a real name is doubled. The mapping goes character by character, so it keeps prefixes
(a folder's photos still lie in the range :func:`scanner.below_bounds` gives) and equality; a path
that needs no escaping (nearly all) is stored as it is.
"""

from __future__ import annotations

import re

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

ESCAPE = "\U0010fffd"
_NEEDS = re.compile("[\ud800-\udfff\U0010fffd]")
_ESCAPED = re.compile("\U0010fffd(\U0010fffd|[0-9A-F]{4})")


def _escape_one(match: re.Match[str]) -> str:
    c = match.group()
    return ESCAPE + ESCAPE if c == ESCAPE else f"{ESCAPE}{ord(c):04X}"


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    return ESCAPE if code == ESCAPE else chr(int(code, 16))


def to_db(path: str) -> str:
    """The stored form of ``path`` (valid UTF-8 whatever the name holds)."""
    if path.isascii():
        return path
    return _NEEDS.sub(_escape_one, path)


def from_db(text: str) -> str:
    """The path that :func:`to_db` stored as ``text``."""
    if ESCAPE not in text:
        return text
    return _ESCAPED.sub(_unescape_one, text)


class PathText(TypeDecorator[str]):
    """A path column: :func:`to_db` on the way in (parameters compared with it too), :func:`from_db` out."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        return to_db(value) if value is not None else None

    def process_result_value(self, value: str | None, dialect: object) -> str | None:
        return from_db(value) if value is not None else None
