"""Cutting a long text for a sentence without cutting a word in two.

A server's error output quoted in a finding ("No `ibeam` container on the server (Error
response from daemon: No such contai") read as broken; cut at a word, with "…", it reads
as what it is: the start of a longer message (the whole of it is in the logs).
"""

from __future__ import annotations


def clip(text: str, limit: int = 160) -> str:
    """The first line of `text`, at most `limit` characters, cut after a whole word and
    ended with "…" when anything was left out."""
    stripped = text.strip()
    first = stripped.splitlines()[0].strip() if stripped else ""
    cut = len(first) > limit or first != stripped
    if len(first) > limit:
        room = first[:limit - 1]
        space = room.rfind(" ")
        first = (room[:space] if space > limit // 2 else room).rstrip(" ,;:")
    return first + ("…" if cut else "")


__all__ = ["clip"]
