"""A loopback simulator of DigitalOcean's API and of IBeam droplets.

It ships with the app so that anyone can try ibdesk without a cloud account, and it is
what the end-to-end tests and the benchmarks run against. Production code never
imports it; only `ibdesk --sandbox` and `ibdesk sandbox serve` start it.
"""

from ibdesk.sandbox.ibeam import IBeamTiming, LightIBeam
from ibdesk.sandbox.ibkr import IBKR, IBKRUser, UserBook
from ibdesk.sandbox.server import DEMO_USER, Sandbox, SandboxOptions
from ibdesk.sandbox.world import APIError, Config, SimClock, World

__all__ = [
    "APIError",
    "Config",
    "DEMO_USER",
    "IBKRUser",
    "IBeamTiming",
    "Sandbox",
    "SandboxOptions",
    "SimClock",
    "IBKR",
    "LightIBeam",
    "UserBook",
    "World",
]
