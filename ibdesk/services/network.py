"""The workstation's public address, which the droplet's firewall admits for SSH."""

from __future__ import annotations

import ipaddress
import logging

import httpx

log = logging.getLogger(__name__)


async def public_address(url: str, *, timeout: float = 5.0) -> str | None:
    """The address a plain-text echo service sees us at, or None when it cannot be found
    (then the firewall admits SSH from anywhere, and the person is told)."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
        response.raise_for_status()
        return str(ipaddress.ip_address(response.text.strip()))
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("could not find this computer's public address: %s", type(exc).__name__)
        return None


__all__ = ["public_address"]
