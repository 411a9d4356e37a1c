"""A loopback simulator of DigitalOcean's API and of IBeam droplets.

It ships with the app so that anyone can try ibdesk without a cloud account, and it is
what the end-to-end tests and the benchmarks run against. Production code never
imports it; only `ibdesk --sandbox` and `ibdesk sandbox serve` start it.

The package is lazy: importing `ibdesk.sandbox` (or one light submodule such as
`catalogue`) loads nothing else; each name below loads its module on first use (PEP
562), so that `ibdesk --help` and the app's start do not pay for aiohttp, asyncssh and
the simulated hosts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibdesk.lazy import module_getattr

if TYPE_CHECKING:
    from ibdesk.sandbox.ibeam import IBeamTiming, LightIBeam
    from ibdesk.sandbox.ibkr import IBKR, IBKRUser, UserBook
    from ibdesk.sandbox.server import DEMO_USER, Sandbox, SandboxOptions
    from ibdesk.sandbox.world import APIError, Config, SimClock, World

_WHERE = {
    "IBeamTiming": "ibeam", "LightIBeam": "ibeam",
    "IBKR": "ibkr", "IBKRUser": "ibkr", "UserBook": "ibkr",
    "DEMO_USER": "server", "Sandbox": "server", "SandboxOptions": "server",
    "APIError": "world", "Config": "world", "SimClock": "world", "World": "world",
}

__all__ = ["DEMO_USER", "IBKR", "APIError", "Config", "IBKRUser", "IBeamTiming", "LightIBeam",
           "Sandbox", "SandboxOptions", "SimClock", "UserBook", "World"]


__getattr__ = module_getattr(__name__, _WHERE)
