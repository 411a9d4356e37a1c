"""The workstation's public address, which the droplet's firewall admits for SSH."""

from __future__ import annotations

import ipaddress
import logging

import httpx

log = logging.getLogger(__name__)


async def public_address(url: str, *, timeout: float = 5.0) -> str | None:
    """This computer's public IPv4 address, as a plain-text echo service sees it over
    IPv4, or None when it cannot be found (then the firewall is left alone, or opened to
    all only if the person allowed it).

    IPv4 because SSH goes to the droplet's IPv4 address (ibdesk's droplets have no IPv6):
    asked over IPv6, the service would answer an address no SSH connection comes from,
    and the firewall would admit nothing useful."""
    try:
        transport = httpx.AsyncHTTPTransport(local_address="0.0.0.0")  # IPv4 only
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
            response = await client.get(url)
        response.raise_for_status()
        ip = ipaddress.ip_address(response.text.strip())
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("could not find this computer's public address: %s", type(exc).__name__)
        return None
    if ip.version != 4:
        log.warning("the address service answered an IPv6 address (%s); SSH needs IPv4", ip)
        return None
    return str(ip)


__all__ = ["public_address"]
