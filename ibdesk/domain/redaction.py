"""Taking secrets out of text before it is written to a log or a support bundle.

Two nets, because either alone misses something: the exact values ibdesk knows are
secret (whatever passed through the keyring in this process, or was loaded for a
bundle), and anything shaped like a credential (DigitalOcean tokens, bearer headers,
private keys, long hex or base32 strings, `password=` style assignments), which also
catches secrets ibdesk never held, such as one pasted into an error by a library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked by value (they would blank out ordinary words); the
shape rules still apply."""

_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s/@]+(@)")
"""The password in `scheme://user:password@host` (a database URL, a proxy)."""

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----"
                r"|\Z)", re.DOTALL), MASK),
    (re.compile(r"\bdo[opr]_v1_[A-Za-z0-9]{16,}"), MASK),
    (re.compile(r"(?i)(?<![.\w])(bearer|token)(\s+|[=:]\s*)[A-Za-z0-9._~+/=-]{12,}"),
     rf"\1\2{MASK}"),
    # not after a dot: `ibdesk.secrets: stored …` is a logger's name, not an assignment
    (re.compile(r"(?i)(?<![.\w])([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PYOTP)"
                r"[A-Z0-9_]*)"
                r"(\s*[=:]\s*)(?!/)(\S+)"), rf"\1\2{MASK}"),
    (_URL_PASSWORD, rf"\1{MASK}\2"),
    (re.compile(r"\b[0-9a-fA-F]{32,}\b"), MASK),
    (re.compile(r"\b(?=[A-Z2-7]*[2-7])(?=[A-Z2-7]*[A-Z])[A-Z2-7]{16,}={0,6}(?![A-Za-z0-9])"),
     MASK),
)


class Ordered(tuple[str, ...]):
    """Secret values ready for `redact`: long enough to mask, longest first (a value that
    holds another is masked whole), with no repeats."""

    __slots__ = ()


def ordered(secrets: Iterable[str]) -> Ordered:
    return Ordered(sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH},
                          key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret value and every credential-shaped string masked."""
    values = secrets if isinstance(secrets, Ordered) else ordered(secrets)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
        stripped = value.strip()
        if stripped != value and len(stripped) >= MIN_SECRET_LENGTH and stripped in text:
            text = text.replace(stripped, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """`url` with the password of its user part masked."""
    return _URL_PASSWORD.sub(rf"\1{MASK}\2", url)


__all__ = ["MASK", "Ordered", "ordered", "redact", "redact_url"]
