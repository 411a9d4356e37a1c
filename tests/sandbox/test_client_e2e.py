"""The foundation's DigitalOcean client against the sandbox over real loopback HTTP."""

from __future__ import annotations

import asyncssh
import httpx
import pytest

from ibdesk.cloud import (
    DigitalOceanClient,
    DropletCreate,
    FirewallSpec,
    InboundRule,
    RuleTarget,
)
from ibdesk.cloud.client import RetryPolicy
from ibdesk.domain.errors import (
    CloudAuthError,
    CloudError,
    CloudUnavailable,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
)
from ibdesk.sandbox import Sandbox
from tests.helpers import NoSleep
from tests.helpers.sandbox import advance, fast_options


def spec(name: str = "jdoe-ib-demo-1", **kw: object) -> DropletCreate:
    base: dict[str, object] = dict(name=name, region="nyc1", size="s-1vcpu-1gb",
                                   image="docker-20-04", tags=["ibdesk"])
    base.update(kw)
    return DropletCreate(**base)  # type: ignore[arg-type]


async def test_account_catalogue_and_images(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    account = await do.get_account()
    assert account.droplet_limit == 25 and account.status == "active"
    sizes = {s.slug: s for s in await do.list_sizes()}
    assert sizes["s-1vcpu-1gb"].price_monthly == 6.0
    assert "blr1" not in sizes["s-1vcpu-512mb-10gb"].regions
    assert any(r.slug == "ams3" for r in await do.list_regions())
    assert (await do.get_image("docker-20-04")).slug == "docker-20-04"
    with pytest.raises(NotFound, match="image 182556282"):
        await do.get_image(182556282)
    async with Sandbox(fast_options(with_seed_image=True)) as seeded:
        async with DigitalOceanClient(seeded.token, base_url=seeded.api_url) as client:
            image = await client.get_image(182556282)
    assert image.type == "snapshot" and image.public is False


async def test_wrong_token(sandbox: Sandbox) -> None:
    async with DigitalOceanClient("dop_v1_wrong", base_url=sandbox.api_url) as bad:
        with pytest.raises(CloudAuthError) as info:
            await bad.get_account()
    assert info.value.error_id == "unauthorized" and info.value.request_id


async def test_droplet_create_wait_power_destroy(sandbox: Sandbox,
                                                 do: DigitalOceanClient) -> None:
    droplet, actions = await do.create_droplet(spec())
    assert droplet.status == "new" and droplet.public_ipv4 is None
    await advance(sandbox, 30)
    assert (await do.wait_for_action(actions[0])).status == "completed"
    droplet = await do.get_droplet(droplet.id)
    assert droplet.status == "active" and droplet.public_ipv4
    assert droplet.size.price_monthly == 6.0 and droplet.region.slug == "nyc1"

    off = await do.droplet_action(droplet.id, "power_off")
    await advance(sandbox, 10)
    assert (await do.wait_for_action(off.id)).status == "completed"
    assert (await do.get_droplet(droplet.id)).status == "off"
    on = await do.droplet_action(droplet.id, "power_on")
    await advance(sandbox, 10)
    await do.wait_for_action(on.id)
    assert (await do.get_droplet(droplet.id)).status == "active"
    await do.delete_droplet(droplet.id)
    with pytest.raises(NotFound):
        await do.get_droplet(droplet.id)


async def test_list_by_tag_follows_pages(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    sandbox.world.config.droplet_limit = 1000
    sandbox.world.config.rate_limit_per_minute = 5000  # 430 creates in a few seconds
    for i in range(430):
        await do.create_droplet(spec(f"d-{i}", tags=["ibdesk", f"ibdesk:{i % 2}"]))
    before = do.requests_sent
    ours = await do.list_droplets(tag_name="ibdesk")
    assert len(ours) == 430 and do.requests_sent - before == 3  # 200 + 200 + 30
    assert len(await do.list_droplets(tag_name="ibdesk:1")) == 215
    await do.delete_droplets_by_tag("ibdesk:0")
    assert len(await do.list_droplets(tag_name="ibdesk")) == 215


async def test_quota_region_and_image_errors(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    with pytest.raises(InvalidRequest, match="not available in that region"):
        await do.create_droplet(spec(size="s-1vcpu-512mb-10gb", region="tor1"))
    with pytest.raises(NotFound, match="image does not exist"):
        await do.create_droplet(spec(image=182556282))
    sandbox.world.config.droplet_limit = 1
    await do.create_droplet(spec())
    with pytest.raises(QuotaExceeded) as info:
        await do.create_droplet(spec("second"))
    assert "droplet limit" in info.value.user_message


async def test_ssh_keys_are_found_by_fingerprint(do: DigitalOceanClient) -> None:
    public = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    made = await do.create_ssh_key("ibdesk", public)
    assert made.fingerprint and len(made.fingerprint.split(":")) == 16
    assert (await do.get_ssh_key(made.fingerprint)).id == made.id
    with pytest.raises(InvalidRequest, match="already in use"):
        await do.create_ssh_key("again", public)
    await do.delete_ssh_key(made.id or 0)
    assert await do.list_ssh_keys() == []


async def test_firewall_round_trip(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    droplet, _ = await do.create_droplet(spec())
    rules = FirewallSpec(name="ibdesk-ssh", tags=["ibdesk"], inbound_rules=[InboundRule(
        protocol="tcp", ports="22", sources=RuleTarget(addresses=["203.0.113.10/32"]))])
    fw = await do.create_firewall(rules)
    await do.add_firewall_droplets(fw.id, [droplet.id])
    got = await do.get_firewall(fw.id)
    assert got.droplet_ids == [droplet.id] and got.tags == ["ibdesk"]
    assert [f.id for f in await do.list_firewalls()] == [fw.id]
    await do.delete_firewall(fw.id)


# ------------------------------------------------------------------------ faults
async def test_429_burst_is_waited_out(sandbox: Sandbox) -> None:
    sandbox.world.faults.rate_limit_burst = 2
    sleeper = NoSleep()
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url,
                                  sleep=sleeper) as client:
        assert (await client.get_account()).email
    assert len(sleeper.waits) == 2 and all(0 < w <= 60 for w in sleeper.waits)
    assert client.rate_limit.remaining is not None and client.rate_limit.remaining > 4000


async def test_per_minute_limit_is_met_without_an_hour_wait() -> None:
    async with Sandbox(fast_options(rate_limit_per_minute=5)) as small:
        sleeper = NoSleep(small.world.clock)  # waiting moves the sandbox's clock too
        async with DigitalOceanClient(small.token, base_url=small.api_url, sleep=sleeper,
                                      retry=RetryPolicy(attempts=10)) as client:
            for _ in range(12):
                await client.get_account()
    assert sleeper.waits and max(sleeper.waits) <= 60


async def test_5xx_rate_is_retried_for_reads(sandbox: Sandbox) -> None:
    sandbox.world.faults.error_rate = 0.5
    sleeper = NoSleep()
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url, sleep=sleeper,
                                  retry=RetryPolicy(attempts=12)) as client:
        for _ in range(10):
            assert (await client.get_account()).email
    assert sleeper.waits  # some 500s were met and retried


async def test_latency_and_timeouts(sandbox: Sandbox) -> None:
    sandbox.world.faults.timeout_rate = 1.0
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url, timeout=0.3,
                                  sleep=NoSleep(), retry=RetryPolicy(attempts=2)) as client:
        with pytest.raises(CloudUnavailable):
            await client.get_account()
    sandbox.world.faults.timeout_rate = 0.0
    sandbox.world.faults.latency_ms = 150
    async with httpx.AsyncClient() as raw:
        response = await raw.get(f"{sandbox.api_url}/v2/account",
                                 headers={"Authorization": f"Bearer {sandbox.token}"})
    assert response.elapsed.total_seconds() >= 0.15


async def test_errored_action_and_vanished_droplet(sandbox: Sandbox,
                                                    do: DigitalOceanClient) -> None:
    droplet, _ = await do.create_droplet(spec())
    await advance(sandbox, 30)
    sandbox.world.faults.fail_actions["reboot"] = 1
    action = await do.droplet_action(droplet.id, "reboot")
    await advance(sandbox, 10)
    with pytest.raises(CloudError, match="reboot action failed"):
        await do.wait_for_action(action.id)
    async with httpx.AsyncClient() as raw:
        gone = await raw.post(f"{sandbox.api_url}/_sandbox/v1/droplets/{droplet.id}/vanish",
                              headers={"Authorization": f"Bearer {sandbox.token}"})
    assert gone.status_code == 204
    with pytest.raises(NotFound):
        await do.get_droplet(droplet.id)
    assert await do.list_droplets(tag_name="ibdesk") == []
