"""What every command prints: human lines or one JSON document on stdout, errors as one
line on stderr, progress on stderr (so that `--json` output stays machine-readable)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ibdesk.domain.errors import IbdeskError, InvalidInput

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Output:
    """Human lines or one JSON document, on stdout; errors on stderr."""

    def __init__(self, as_json: bool, out: TextIO | None = None, err: TextIO | None = None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def result(self, data: dict[str, Any], lines: Sequence[str]) -> None:
        if self.as_json:
            print(json.dumps(data, default=str, sort_keys=True), file=self.out)
        else:
            for line in lines:
                print(line, file=self.out)

    def error(self, message: str) -> None:
        if self.as_json:
            print(json.dumps({"error": message}), file=self.out)
        print(f"ibdesk: {message}", file=self.err)

    def progress(self, message: str) -> None:
        print(message, file=self.err, flush=True)


def read_stdin(*, line: bool = False) -> str:
    """Standard input as text, decoded as UTF-8 here rather than by the locale: bytes that
    are not UTF-8 (a password saved in Latin-1, a binary file piped in by mistake) are a
    sentence, never a traceback, and nothing has been recorded yet when it is said."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # already text (a test's StringIO)
        return sys.stdin.readline() if line else sys.stdin.read()
    raw = stream.readline() if line else stream.read()
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"What was piped in is not UTF-8 text (byte {exc.start + 1} is "
            f"0x{raw[exc.start]:02x}). ibdesk reads passwords, secrets and tokens as UTF-8: "
            "save the file as UTF-8, or type the value in a UTF-8 terminal. Nothing was "
            "changed.") from None


def read_secret(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        return read_stdin(line=True).strip()
    if not sys.stdin.isatty():
        raise IbdeskError("No terminal to ask on: pass --stdin and pipe the token in.")
    return getpass.getpass(prompt).strip()


# ---------------------------------------------------------------------------- commands


def confirm(question: str, *, yes: bool, expected: str | None = None) -> None:
    """Ask before something destructive; without a terminal, `--yes` is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise IbdeskError("This changes or removes a server: add --yes to confirm (no "
                          "terminal to ask on).")
    if expected is not None:
        answer = input(f"{question}\nType {expected} to confirm: ").strip()
        ok = answer == expected
    else:
        ok = input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    if not ok:
        raise IbdeskError("Cancelled; nothing was changed.")


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Output", "confirm", "read_secret"]
