"""Sending a message through Apprise: e-mail, Slack, Discord, Telegram, ntfy, Pushover,
webhooks and the rest, each named by one URL (https://github.com/caronc/apprise/wiki).

An adapter beside `secrets` and `cloud`: the services decide what to say and to whom;
this says it. Apprise is synchronous (requests, smtplib): callers run `send` on a worker
thread. A URL carries its service's credentials, so it is a secret: it is never logged
or shown whole (`describe` gives its scheme and host only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from ibdesk.domain.errors import InvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    url: str
    ok: bool


def describe(url: str) -> str:
    """`mailto://…@smtp.example.com` → "mailto → smtp.example.com": enough to tell the
    person's alert targets apart, nothing of their credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme or '?'} → {host}"


def check_url(url: str) -> None:
    """InvalidInput unless Apprise knows what service `url` names."""
    import apprise

    if not url or apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        raise InvalidInput(
            "Apprise does not recognise that URL (its wiki lists one per service, e.g. "
            "mailtos://user:app-password@gmail.com or ntfy://topic).", field="url")


def send(urls: list[str], title: str, body: str) -> list[Delivery]:
    """Send to each URL on its own (one failing target does not stop the others)."""
    import apprise

    out = []
    for url in urls:
        sender = apprise.Apprise()
        ok = sender.add(url) and bool(sender.notify(title=title, body=body))
        if not ok:
            log.warning("alert not delivered to %s", describe(url))
        out.append(Delivery(url, ok))
    return out


__all__ = ["Delivery", "check_url", "describe", "send"]
