"""The cloud firewall on every ibdesk droplet: inbound SSH only, from the computers that use it.

One firewall, applied by the `ibdesk` tag, so every droplet ibdesk creates is covered
the moment it exists. Inbound it admits TCP 22 from the workstation's public IPv4 address
(SSH goes to the droplet's IPv4 address: an IPv6 rule would admit nothing ibdesk uses).
Ports 5000/5001 are never opened. Outbound stays open: the droplet pulls IBeam's image
and talks to IBKR.

It is changed rule by rule (`POST|DELETE /v2/firewalls/{id}/rules`, and `…/tags` when
the `ibdesk` tag went missing), never replaced whole with a PUT: rules, tags and droplets
someone added by hand stay, and a failed update can no longer drop the tag (which left
every droplet unprotected). Each installation remembers the addresses it added
(`firewall-sources.json` in its data folder) and, when it sees a new one, removes those it
added and has not been at for PRUNE_AFTER (a laptop moving between home and office keeps
both for a while; another computer's addresses are never touched). When this computer's
address cannot be found, SSH is opened to the world only when the person said so
(`allow_anywhere`: the window asks, the CLI needs `--allow-ssh-from-anywhere`); anyone
able to block the address lookup could otherwise open it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ibdesk.cloud import (
    DigitalOceanClient,
    Firewall,
    FirewallSpec,
    InboundRule,
    OutboundRule,
    RuleTarget,
)
from ibdesk.domain.errors import AddressUnknown
from ibdesk.domain.naming import APP_TAG
from ibdesk.private_files import create_private

log = logging.getLogger(__name__)

FIREWALL_NAME = "ibdesk-ssh"
ANYWHERE = ["0.0.0.0/0", "::/0"]
PRUNE_AFTER = timedelta(days=30)
OPEN_WARNING = (
    "ibdesk could not find this computer's public address, and you allowed SSH from "
    "anywhere: the server's firewall lets SSH in from any address (key-only logins; the "
    "gateway ports stay closed). Run Diagnose later to narrow it to this computer.")
NO_ADDRESS = (
    "ibdesk could not find this computer's public IPv4 address, so it cannot open the "
    "server's SSH to this computer only, and it does not open it to everyone unasked. "
    "Check the internet connection and try again, or allow SSH from anywhere "
    "(the window asks; on the command line add --allow-ssh-from-anywhere).")
BOOK_FILE = "firewall-sources.json"


@dataclass(frozen=True)
class FirewallResult:
    firewall: Firewall
    sources: list[str]
    warning: str | None
    removed: list[str] = field(default_factory=list)
    """Addresses this installation added earlier and pruned now."""


class SourceBook:
    """The SSH sources this installation added, with when each was last this computer's
    address (a file in the data folder, written whole, 0600)."""

    def __init__(self, home: Path | None) -> None:
        self._path = home / BOOK_FILE if home is not None else None
        self.seen: dict[str, datetime] = {}
        if self._path is not None and self._path.exists():
            try:
                raw = json.loads(self._path.read_text(encoding="utf-8"))
                self.seen = {str(k): datetime.fromisoformat(v) for k, v in raw.items()}
            except (OSError, ValueError, TypeError, AttributeError):
                log.warning("%s is unreadable; starting it afresh", self._path)

    def save(self) -> None:
        if self._path is None:
            return
        temp = self._path.with_name(self._path.name + ".new")
        create_private(temp)
        temp.write_text(json.dumps({k: v.isoformat() for k, v in sorted(self.seen.items())}),
                        encoding="utf-8")
        temp.replace(self._path)


def _cidr(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{32 if ip.version == 4 else 128}"


def _ssh_rule(sources: list[str]) -> InboundRule:
    return InboundRule(protocol="tcp", ports="22", sources=RuleTarget(addresses=sources))


def _spec(sources: list[str]) -> FirewallSpec:
    everywhere = RuleTarget(addresses=list(ANYWHERE))
    return FirewallSpec(
        name=FIREWALL_NAME, tags=[APP_TAG], inbound_rules=[_ssh_rule(sources)],
        outbound_rules=[OutboundRule(protocol="tcp", ports="0", destinations=everywhere),
                        OutboundRule(protocol="udp", ports="0", destinations=everywhere),
                        OutboundRule(protocol="icmp", ports="0", destinations=everywhere)])


def ssh_sources(firewall: Firewall) -> list[str]:
    return [a for rule in firewall.inbound_rules or []
            if rule.protocol == "tcp" and rule.ports == "22"
            for a in rule.sources.addresses or []]


async def ensure_firewall(client: DigitalOceanClient, address: str | None, *,
                          home: Path | None = None, allow_anywhere: bool = False,
                          now: datetime | None = None) -> FirewallResult:
    """The ibdesk firewall admitting SSH from `address` (this computer's public IPv4
    address, or None when it could not be found), made or changed rule by rule.

    With no address: a missing firewall is made open to all only with `allow_anywhere`
    (else AddressUnknown, before anything is made); an existing one is left as
    it is, unless it admits nobody."""
    now = now or datetime.now(UTC)
    book = SourceBook(home)
    wanted = _cidr(address) if address else None
    existing = next((f for f in await client.list_firewalls() if f.name == FIREWALL_NAME), None)
    if existing is None:
        if wanted is None and not allow_anywhere:
            raise AddressUnknown(NO_ADDRESS)
        sources = [wanted] if wanted else list(ANYWHERE)
        made = await client.create_firewall(_spec(sources))
        book.seen.update({s: now for s in sources})
        book.save()
        return FirewallResult(made, sources, None if wanted else OPEN_WARNING)
    current = ssh_sources(existing)
    changed = False
    if APP_TAG not in (existing.tags or []):  # put back alone: nothing else is touched
        await client.add_firewall_tags(existing.id, [APP_TAG])
        changed = True
    removed: list[str] = []
    warning: str | None = None
    if wanted is None:
        if not current:
            if not allow_anywhere:
                raise AddressUnknown(NO_ADDRESS)
            await client.add_firewall_rules(existing.id, [_ssh_rule(list(ANYWHERE))])
            book.seen.update({s: now for s in ANYWHERE})
            changed = True
        if set(ANYWHERE) & set(current) or not current:
            warning = OPEN_WARNING
    else:
        if wanted not in current:
            await client.add_firewall_rules(existing.id, [_ssh_rule([wanted])])
            changed = True
        book.seen[wanted] = now
        # ours, and not this computer's address for a while (or the open-to-all rule,
        # once a real address is known): pruned. Another installation's are not ours.
        removed = [s for s in current if s != wanted and s in book.seen
                   and (s in ANYWHERE or now - book.seen[s] > PRUNE_AFTER)]
        if removed:
            await client.remove_firewall_rules(existing.id, [_ssh_rule(removed)])
            for source in removed:
                del book.seen[source]
            changed = True
    book.save()
    if changed:
        existing = await client.get_firewall(existing.id)
    return FirewallResult(existing, ssh_sources(existing), warning, removed)


__all__ = ["ANYWHERE", "FIREWALL_NAME", "NO_ADDRESS", "OPEN_WARNING", "PRUNE_AFTER",
           "FirewallResult", "SourceBook", "ensure_firewall", "ssh_sources"]
