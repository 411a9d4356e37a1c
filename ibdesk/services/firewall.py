"""The cloud firewall on every ibdesk droplet: inbound SSH only, from this computer.

One firewall, applied by the `ibdesk` tag, so every droplet ibdesk creates is covered
the moment it exists. Inbound it admits TCP 22 from the workstation's public address
(added to those already admitted, so two workstations on one token both keep access),
or from anywhere when that address cannot be found, in which case the caller shows the
warning. Ports 5000/5001 are never opened. Outbound stays open: the droplet pulls
IBeam's image and talks to IBKR.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ibdesk.cloud import (
    DigitalOceanClient,
    Firewall,
    FirewallSpec,
    InboundRule,
    OutboundRule,
    RuleTarget,
)
from ibdesk.domain.naming import APP_TAG

FIREWALL_NAME = "ibdesk-ssh"
ANYWHERE = ["0.0.0.0/0", "::/0"]
OPEN_WARNING = (
    "ibdesk could not find this computer's public address, so the server's firewall lets "
    "SSH in from anywhere (the gateway ports stay closed). Run Diagnose later to narrow it.")


@dataclass(frozen=True)
class FirewallResult:
    firewall: Firewall
    sources: list[str]
    warning: str | None


def _cidr(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{32 if ip.version == 4 else 128}"


def _spec(sources: list[str]) -> FirewallSpec:
    everywhere = RuleTarget(addresses=list(ANYWHERE))
    return FirewallSpec(
        name=FIREWALL_NAME, tags=[APP_TAG],
        inbound_rules=[InboundRule(protocol="tcp", ports="22",
                                   sources=RuleTarget(addresses=sources))],
        outbound_rules=[OutboundRule(protocol="tcp", ports="0", destinations=everywhere),
                        OutboundRule(protocol="udp", ports="0", destinations=everywhere),
                        OutboundRule(protocol="icmp", ports="0", destinations=everywhere)])


def ssh_sources(firewall: Firewall) -> list[str]:
    for rule in firewall.inbound_rules or []:
        if rule.protocol == "tcp" and rule.ports == "22":
            return list(rule.sources.addresses or [])
    return []


async def ensure_firewall(client: DigitalOceanClient, address: str | None) -> FirewallResult:
    existing = next((f for f in await client.list_firewalls() if f.name == FIREWALL_NAME), None)
    if existing is None:
        sources = [_cidr(address)] if address else list(ANYWHERE)
        made = await client.create_firewall(_spec(sources))
        return FirewallResult(made, sources, None if address else OPEN_WARNING)
    current = ssh_sources(existing)
    if address is None:
        return FirewallResult(existing, current,
                              OPEN_WARNING if set(ANYWHERE) & set(current) else None)
    wanted = _cidr(address)
    # Once a real address is known, an open-to-all rule is narrowed to it.
    sources = [s for s in current if s not in ANYWHERE]
    if wanted not in sources:
        sources.append(wanted)
    if sources != current or APP_TAG not in (existing.tags or []):
        existing = await client.update_firewall(existing.id, _spec(sources))
    return FirewallResult(existing, sources, None)


__all__ = ["ANYWHERE", "FIREWALL_NAME", "FirewallResult", "OPEN_WARNING", "ensure_firewall",
           "ssh_sources"]
