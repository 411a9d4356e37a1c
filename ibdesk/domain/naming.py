"""Droplet names and tags: `{username}-ib-{environment}-{index}`.

An IBKR username may hold characters a droplet name may not (DigitalOcean allows
`[a-zA-Z0-9.-]`, starting and ending with a letter or digit, and the name becomes the
droplet's hostname, which is case-insensitive). The username part is therefore mapped
deterministically and without collisions:

* a username that is already a clean lower-case hostname label (`[a-z0-9]`, single
  inner `.`/`-`) and does not end in `-` + 8 hex digits is used as it is;
* anything else becomes a readable lower-case slug plus `-` + the first 8 hex digits of
  the SHA-256 of the exact username.

The two sets of results cannot meet (only the second ends in `-xxxxxxxx`), and two
different usernames that need a hash differ in it unless SHA-256 collides on 32 bits
for usernames with the same readable slug, which we accept.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from ibdesk.domain.models import Environment

_CLEAN = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
_HASH_TAIL = re.compile(r"-[0-9a-f]{8}$")
_NAME = re.compile(r"^(?P<slug>.+)-ib-(?P<env>demo|paper|live)-(?P<index>[1-9][0-9]*)$")
_SLUG_MAX = 40
DROPLET_NAME_MAX = 63  # one DNS label: the name is the droplet's hostname

#: Every resource ibdesk creates carries this tag; it is how ibdesk finds its own.
APP_TAG = "ibdesk"
_TAG_UNSAFE = re.compile(r"[^a-zA-Z0-9_\-:]")


def username_slug(username: str) -> str:
    """The username part of a droplet name (see the module docstring)."""
    if len(username) <= _SLUG_MAX and _CLEAN.match(username) and not _HASH_TAIL.search(username):
        return username
    digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:8]
    readable = re.sub(r"[^a-z0-9]+", "-", username.lower()).strip("-")[: _SLUG_MAX - 9]
    readable = readable.strip("-")
    return f"{readable}-{digest}" if readable else f"u-{digest}"


def droplet_name(username: str, environment: Environment | str, index: int) -> str:
    if index < 1:
        raise ValueError("droplet index starts at 1")
    env = Environment(environment).value
    return f"{username_slug(username)}-ib-{env}-{index}"


def parse_droplet_name(name: str) -> tuple[str, Environment, int] | None:
    """(slug, environment, index) of a name made by `droplet_name`, else None."""
    match = _NAME.match(name)
    if not match:
        return None
    return match["slug"], Environment(match["env"]), int(match["index"])


def next_droplet_name(
    username: str, environment: Environment | str, existing_names: Iterable[str]
) -> str:
    """The name with the lowest index not already used by this username+environment.

    Indexes freed by deleted droplets are reused, so a trader who deletes and
    reconnects gets `…-1` again.
    """
    slug = username_slug(username)
    env = Environment(environment)
    used = set()
    for name in existing_names:
        parsed = parse_droplet_name(name)
        if parsed and parsed[0] == slug and parsed[1] is env:
            used.add(parsed[2])
    index = 1
    while index in used:
        index += 1
    return droplet_name(username, env, index)


def account_tag(account_id: str) -> str:
    """Tag on everything created for one account (`ibdesk:ib-demo-a1b2c3d4`)."""
    return f"{APP_TAG}:{account_id}"


INSTALLATION_TAG_PREFIX = f"{APP_TAG}-inst:"


def installation_tag(installation_id: str) -> str:
    """Tag on every droplet one installation of ibdesk (one data folder) creates: two
    computers sharing a DigitalOcean token never take each other's servers for orphans."""
    return f"{INSTALLATION_TAG_PREFIX}{_TAG_UNSAFE.sub('-', installation_id)}"


def installation_of(tags: Iterable[str]) -> str | None:
    """The installation id a droplet's tags name, or None (made before ibdesk tagged
    installations, or not by ibdesk)."""
    for tag in tags:
        if tag.startswith(INSTALLATION_TAG_PREFIX):
            return tag.removeprefix(INSTALLATION_TAG_PREFIX)
    return None


def account_of(tags: Iterable[str]) -> str | None:
    """The account id in a droplet's `ibdesk:<account>` tag, or None."""
    for tag in tags:
        if tag.startswith(f"{APP_TAG}:"):
            return tag.removeprefix(f"{APP_TAG}:")
    return None


def request_tag(request_id: str) -> str:
    """Tag on everything one connect request created: how a crash is resumed."""
    return f"{APP_TAG}-req:{_TAG_UNSAFE.sub('-', request_id)}"


__all__ = [
    "APP_TAG",
    "DROPLET_NAME_MAX",
    "INSTALLATION_TAG_PREFIX",
    "account_of",
    "account_tag",
    "droplet_name",
    "installation_of",
    "installation_tag",
    "next_droplet_name",
    "parse_droplet_name",
    "request_tag",
    "username_slug",
]
