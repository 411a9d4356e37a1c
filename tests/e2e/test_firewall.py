"""The droplets' firewall changed rule by rule (issue 13, point 9), on the sandbox.

Each update used to replace the whole firewall with a PUT: rules and tags added by hand
were lost, a dropped tag left droplets unprotected, old addresses were never pruned, a
failed address lookup opened SSH to the world, and an IPv6 answer made a useless rule.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ibdesk.cloud import DigitalOceanClient, InboundRule, RuleTarget
from ibdesk.cloud.public_ip import public_address
from ibdesk.domain.diagnosis import FixAction
from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from ibdesk.services.connect.firewall import BOOK_FILE, FIREWALL_NAME, SourceBook
from ibdesk.services.support.doctor import Doctor
from tests.helpers.e2e import provisioner, request


def _firewall(sandbox: Sandbox) -> dict:  # type: ignore[type-arg]
    (firewall,) = [f for f in sandbox.world.firewalls.values() if f.name == FIREWALL_NAME]
    return {"tags": list(firewall.tags), "rules": json.loads(json.dumps(firewall.inbound_rules))}


def _ssh(rules: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [a for r in rules if r["protocol"] == "tcp" and r["ports"] == "22"
            for a in r["sources"].get("addresses") or []]


async def test_what_others_added_stays_and_the_tag_comes_back(sandbox: Sandbox,
                                                              rt: Runtime) -> None:
    await provisioner(rt).connect(request("demo"))
    (firewall,) = sandbox.world.firewalls.values()
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
        # by hand, in the control panel: a monitoring port for the office, a tag of theirs,
        # and the `ibdesk` tag removed by mistake
        await do.add_firewall_rules(firewall.id, [InboundRule(
            protocol="tcp", ports="9100", sources=RuleTarget(addresses=["198.51.100.7/32"]))])
        await do.add_firewall_tags(firewall.id, ["office"])
    firewall.tags.remove("ibdesk")
    sandbox.world.config.workstation_ip = "203.0.113.77"  # this computer moved
    requests = len(sandbox.world.requests)
    await Doctor(rt).apply(FixAction.UPDATE_FIREWALL)
    now = _firewall(sandbox)
    assert {"ibdesk", "office"} <= set(now["tags"])
    assert any(r["ports"] == "9100" for r in now["rules"])  # theirs, kept
    assert set(_ssh(now["rules"])) == {"203.0.113.10/32", "203.0.113.77/32"}
    assert not any(r["method"] == "PUT" for r in list(sandbox.world.requests)[requests:])


async def test_this_installations_old_addresses_are_pruned_others_never(
        sandbox: Sandbox, rt: Runtime) -> None:
    await provisioner(rt).connect(request("demo"))  # admits 203.0.113.10, ours
    (firewall,) = sandbox.world.firewalls.values()
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
        await do.add_firewall_rules(firewall.id, [InboundRule(  # another computer's
            protocol="tcp", ports="22", sources=RuleTarget(addresses=["192.0.2.50/32"]))])
    book = SourceBook(rt.settings.home)
    assert set(book.seen) == {"203.0.113.10/32"}
    sandbox.world.config.workstation_ip = "203.0.113.20"  # a few days at the office
    await Doctor(rt).apply(FixAction.UPDATE_FIREWALL)
    assert set(_ssh(_firewall(sandbox)["rules"])) == \
        {"203.0.113.10/32", "203.0.113.20/32", "192.0.2.50/32"}  # home kept for a while
    book = SourceBook(rt.settings.home)  # …then home was last seen 31 days ago
    book.seen["203.0.113.10/32"] = datetime.now(UTC) - timedelta(days=31)
    book.save()
    await Doctor(rt).apply(FixAction.UPDATE_FIREWALL)
    assert set(_ssh(_firewall(sandbox)["rules"])) == {"203.0.113.20/32", "192.0.2.50/32"}
    assert set(SourceBook(rt.settings.home).seen) == {"203.0.113.20/32"}
    assert (rt.settings.home / BOOK_FILE).stat().st_mode & 0o077 == 0


async def test_an_ipv6_answer_is_no_address_for_ssh(sandbox: Sandbox, rt: Runtime) -> None:
    """SSH goes to the droplet's IPv4 address: a rule for this computer's IPv6 address
    admits nothing ibdesk uses, so an IPv6 answer counts as no address."""
    sandbox.world.config.workstation_ip = "2001:db8::10"
    assert await public_address(rt.settings.public_ip_url) is None
    sandbox.world.config.workstation_ip = "203.0.113.10"
    assert await public_address(rt.settings.public_ip_url) == "203.0.113.10"
