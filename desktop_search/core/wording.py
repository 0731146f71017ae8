"""Small pieces of user-facing wording shared by the command line and the window."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``1 photo``, ``2 photos``, ``1,000 photos`` (nouns with a plain -s plural)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
