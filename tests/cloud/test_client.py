from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from ibdesk.cloud import DigitalOceanClient, DropletCreate, FirewallSpec, InboundRule, RuleTarget
from ibdesk.cloud.client import RetryPolicy
from ibdesk.domain.errors import (
    CloudAuthError,
    CloudError,
    CloudUnavailable,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    RateLimited,
)
from tests import spec
from tests.helpers import CANARY_TOKEN, NoSleep
from tests.helpers.cloud import BASE, Clock

ACCOUNT = spec.sample("account/account_get.yml", 200)[0]
DROPLET = spec.examples("droplets/droplets_get.yml", 200)[0]["droplet"]
ACTION = spec.sample("actions/actions_get.yml", 200)[0]["action"]


def droplet(i: int, **kw: object) -> dict:
    return {**DROPLET, "id": i, "name": f"d{i}", **kw}


async def test_account_and_bearer_token(api: respx.MockRouter, do: DigitalOceanClient) -> None:
    route = api.get("/v2/account").respond(200, json=ACCOUNT)
    account = await do.get_account()
    assert account.email == "sammy@digitalocean.com" and account.droplet_limit == 25
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CANARY_TOKEN}"


async def test_list_follows_pages_with_per_page_200(api: respx.MockRouter,
                                                    do: DigitalOceanClient) -> None:
    # DigitalOcean's next links are absolute URLs of its own host: the client must keep
    # talking to its configured base (the sandbox, a proxy).
    real = "https://api.digitalocean.com/v2/droplets"
    pages = {
        None: {"droplets": [droplet(i) for i in range(200)],
               "links": {"pages": {"next": f"{real}?page=2&per_page=200&tag_name=ibdesk",
                                   "last": f"{real}?page=3&per_page=200&tag_name=ibdesk"}},
               "meta": {"total": 450}},
        "2": {"droplets": [droplet(i) for i in range(200, 400)],
              "links": {"pages": {"next": f"{real}?page=3&per_page=200&tag_name=ibdesk"}},
              "meta": {"total": 450}},
        "3": {"droplets": [droplet(i) for i in range(400, 450)], "links": {},
              "meta": {"total": 450}},
    }

    def pager(request: httpx.Request) -> httpx.Response:
        assert request.url.params["per_page"] == "200"
        assert request.url.params["tag_name"] == "ibdesk"
        return httpx.Response(200, json=pages[request.url.params.get("page")])

    route = api.get("/v2/droplets").mock(side_effect=pager)
    found = await do.list_droplets(tag_name="ibdesk")
    assert [d.id for d in found] == list(range(450))
    assert route.call_count == 3
    assert all(str(c.request.url).startswith(BASE) for c in route.calls)


async def test_429_waits_as_told_then_succeeds(api: respx.MockRouter, do: DigitalOceanClient,
                                               sleeper: NoSleep, clock: Clock) -> None:
    api.get("/v2/account").mock(side_effect=[
        httpx.Response(429, json=spec.error_example("too_many_requests"),
                       headers={"ratelimit-limit": "5000", "ratelimit-remaining": "0",
                                "ratelimit-reset": str(int(clock.now) + 3)}),
        httpx.Response(200, json=ACCOUNT, headers={"ratelimit-limit": "5000",
                                                   "ratelimit-remaining": "4999",
                                                   "ratelimit-reset": str(int(clock.now))}),
    ])
    assert (await do.get_account()).uuid
    assert sleeper.waits == [3.0]
    assert do.rate_limit.remaining == 4999
    assert do.answers == {"429": 1, "200": 1}  # what the metrics count by status code


async def test_429_retry_after_header_wins(api: respx.MockRouter, do: DigitalOceanClient,
                                           sleeper: NoSleep) -> None:
    api.post("/v2/droplets/1/actions").mock(side_effect=[
        httpx.Response(429, json=spec.error_example("too_many_requests"),
                       headers={"retry-after": "7"}),
        httpx.Response(201, json={"action": ACTION}),
    ])
    # A 429'd request was not carried out: retrying even a POST is safe.
    assert (await do.droplet_action(1, "reboot")).id == ACTION["id"]
    assert sleeper.waits == [7.0]


async def test_429_with_a_long_wait_is_raised(api: respx.MockRouter, do: DigitalOceanClient,
                                              sleeper: NoSleep, clock: Clock) -> None:
    api.get("/v2/account").respond(
        429, json=spec.error_example("too_many_requests"),
        headers={"ratelimit-remaining": "0", "ratelimit-reset": str(int(clock.now) + 1800)})
    with pytest.raises(RateLimited) as info:
        await do.get_account()
    assert info.value.retry_after == pytest.approx(1800)
    assert info.value.error_id == "too_many_requests"
    assert sleeper.waits == []


async def test_low_quota_spreads_requests(api: respx.MockRouter, do: DigitalOceanClient,
                                          sleeper: NoSleep, clock: Clock) -> None:
    api.get("/v2/account").respond(200, json=ACCOUNT, headers={
        "ratelimit-limit": "5000", "ratelimit-remaining": "9",
        "ratelimit-reset": str(int(clock.now) + 100)})
    await do.get_account()  # learns the headers
    assert sleeper.waits == []
    await do.get_account()
    assert sleeper.waits == [pytest.approx(10.0)]  # 100 s over the 9 left (+1)


async def test_plenty_of_quota_means_no_pacing(api: respx.MockRouter, do: DigitalOceanClient,
                                               sleeper: NoSleep, clock: Clock) -> None:
    api.get("/v2/account").respond(200, json=ACCOUNT, headers={
        "ratelimit-limit": "5000", "ratelimit-remaining": "4000",
        "ratelimit-reset": str(int(clock.now) + 100)})
    for _ in range(3):
        await do.get_account()
    assert sleeper.waits == []


async def test_5xx_is_retried_for_reads(api: respx.MockRouter, do: DigitalOceanClient,
                                        sleeper: NoSleep) -> None:
    route = api.get("/v2/droplets/5").mock(side_effect=[
        httpx.Response(500, json=spec.error_example("server_error")),
        httpx.Response(503, text="upstream"),
        httpx.Response(200, json={"droplet": droplet(5)}),
    ])
    assert (await do.get_droplet(5)).id == 5
    assert route.call_count == 3
    assert len(sleeper.waits) == 2 and all(0 < w <= 8 for w in sleeper.waits)
    assert sleeper.waits[1] >= sleeper.waits[0] / 2  # backing off, with jitter


async def test_5xx_retries_are_bounded(api: respx.MockRouter, sleeper: NoSleep,
                                       clock: Clock) -> None:
    route = api.get("/v2/account").respond(500, json=spec.error_example("server_error"))
    async with DigitalOceanClient(CANARY_TOKEN, base_url=BASE, sleep=sleeper, clock=clock,
                                  retry=RetryPolicy(attempts=3)) as do:
        with pytest.raises(CloudUnavailable) as info:
            await do.get_account()
    assert route.call_count == 3
    assert info.value.error_id == "server_error"


async def test_create_is_never_blindly_repeated(api: respx.MockRouter,
                                                do: DigitalOceanClient) -> None:
    route = api.post("/v2/droplets").respond(500, json=spec.error_example("server_error"))
    spec_ = DropletCreate(name="bob-ib-demo-1", region="nyc1", size="s-1vcpu-1gb",
                          image="docker-20-04")
    with pytest.raises(CloudUnavailable):
        await do.create_droplet(spec_)
    assert route.call_count == 1

    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(CloudUnavailable) as info:
        await do.create_droplet(spec_)
    assert route.call_count == 2
    assert "may or may not" in info.value.user_message


async def test_timeouts_are_retried_for_reads(api: respx.MockRouter,
                                              do: DigitalOceanClient) -> None:
    page = {**spec.sample("sizes/sizes_list.yml", 200)[0], "links": {}}
    route = api.get("/v2/sizes").mock(side_effect=[httpx.ReadTimeout("slow"),
                                                   httpx.Response(200, json=page)])
    sizes = await do.list_sizes()
    assert sizes[0].slug == "s-1vcpu-1gb" and sizes[0].price_monthly == 5.0
    assert route.call_count == 2


async def test_connect_errors_are_retried_even_for_create(api: respx.MockRouter,
                                                          do: DigitalOceanClient) -> None:
    created = spec.examples("droplets/droplets_create.yml", 202)[0]
    route = api.post("/v2/droplets").mock(side_effect=[
        httpx.ConnectError("refused"), httpx.Response(202, json=created)])
    made, actions = await do.create_droplet(DropletCreate(
        name="bob-ib-demo-1", region="nyc1", size="s-1vcpu-1gb", image=182556282))
    assert made.id == created["droplet"]["id"]
    assert actions == [a["id"] for a in created["links"]["actions"]]
    assert route.call_count == 2


async def test_unreachable_api_is_a_clear_error(api: respx.MockRouter,
                                                do: DigitalOceanClient) -> None:
    api.get("/v2/account").mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(CloudUnavailable) as info:
        await do.get_account()
    assert "could not be reached" in info.value.user_message


SHARED_ERRORS = [
    ("unauthorized", 401, CloudAuthError, "does not accept this API token"),
    ("forbidden", 403, CloudAuthError, "lacks a permission"),
    ("not_found", 404, NotFound, "has no droplet 42"),
    ("unprocessable_entity", 422, InvalidRequest, "did not accept"),
    ("bad_request", 400, InvalidRequest, "did not accept"),
    ("server_error", 500, CloudUnavailable, "internal problem"),
    ("too_many_requests", 429, RateLimited, "limit"),
]


@pytest.mark.parametrize(("example", "status", "error", "words"), SHARED_ERRORS,
                         ids=[e[0] for e in SHARED_ERRORS])
async def test_error_bodies_from_the_spec(example: str, status: int, error: type,
                                          words: str, api: respx.MockRouter,
                                          sleeper: NoSleep, clock: Clock) -> None:
    body = spec.error_example(example)
    api.get("/v2/droplets/42").respond(status, json=body, headers={
        "ratelimit-remaining": "0", "ratelimit-reset": str(int(clock.now) + 3600)})
    async with DigitalOceanClient(CANARY_TOKEN, base_url=BASE, sleep=sleeper, clock=clock,
                                  retry=RetryPolicy(attempts=1)) as do:
        with pytest.raises(error) as info:
            await do.get_droplet(42)
    err = info.value
    assert words in err.user_message
    assert err.status_code == status
    assert err.error_id == body["id"] and err.api_message == body["message"]
    assert err.request_id == body.get("request_id")


@pytest.mark.parametrize(("message", "error", "words"), [
    ("creating this/these droplet(s) will exceed your droplet limit", QuotaExceeded,
     "droplet limit"),
    ("Size is not available in this region.", InvalidRequest, "not available in that region"),
    ("You specified an invalid image for Droplet creation.", NotFound, "image does not exist"),
    ("Region is not available", InvalidRequest, "region is not available"),
])
async def test_create_errors_in_plain_words(message: str, error: type, words: str,
                                            api: respx.MockRouter,
                                            do: DigitalOceanClient) -> None:
    api.post("/v2/droplets").respond(422, json={"id": "unprocessable_entity",
                                                "message": message, "request_id": "req-9"})
    with pytest.raises(error) as info:
        await do.create_droplet(DropletCreate(name="a-ib-demo-1", region="nyc1",
                                              size="s-1vcpu-1gb", image="docker-20-04"))
    assert words in info.value.user_message.lower() or words in info.value.user_message
    assert info.value.request_id == "req-9"


async def test_create_sends_the_fields_ibdesk_sets(api: respx.MockRouter,
                                                   do: DigitalOceanClient) -> None:
    route = api.post("/v2/droplets").respond(
        202, json=spec.examples("droplets/droplets_create.yml", 202)[0])
    await do.create_droplet(DropletCreate(
        name="bob-ib-demo-1", region="ams3", size="s-1vcpu-2gb", image="docker-20-04",
        ssh_keys=[289794], tags=["ibdesk", "ibdesk:ib-demo-a1b2c3d4"], monitoring=True,
        user_data="#cloud-config\n"))
    sent = json.loads(route.calls.last.request.content)
    assert sent == {"name": "bob-ib-demo-1", "region": "ams3", "size": "s-1vcpu-2gb",
                    "image": "docker-20-04", "ssh_keys": [289794],
                    "tags": ["ibdesk", "ibdesk:ib-demo-a1b2c3d4"], "monitoring": True,
                    "user_data": "#cloud-config\n", "backups": False, "ipv6": False}


async def test_wait_for_action_follows_to_completed(api: respx.MockRouter,
                                                    do: DigitalOceanClient,
                                                    sleeper: NoSleep) -> None:
    running = {**ACTION, "status": "in-progress", "completed_at": None}
    api.get(f"/v2/actions/{ACTION['id']}").mock(side_effect=[
        httpx.Response(200, json={"action": running}),
        httpx.Response(200, json={"action": running}),
        httpx.Response(200, json={"action": ACTION}),
    ])
    seen: list[str] = []
    done = await do.wait_for_action(ACTION["id"], on_poll=lambda a: seen.append(a.status))
    assert done.status == "completed"
    assert seen == ["in-progress", "in-progress", "completed"]
    assert sleeper.waits == [1.0, 1.5]


async def test_wait_for_action_raises_on_errored(api: respx.MockRouter,
                                                 do: DigitalOceanClient) -> None:
    api.get("/v2/actions/7").respond(200, json={"action": {**ACTION, "id": 7,
                                                           "type": "power_on",
                                                           "status": "errored"}})
    with pytest.raises(CloudError, match="power on action failed"):
        await do.wait_for_action(7)


async def test_wait_for_action_times_out(api: respx.MockRouter, do: DigitalOceanClient,
                                         sleeper: NoSleep, clock: Clock) -> None:
    async def advance(seconds: float) -> None:
        clock.now += seconds

    do._sleep = advance  # time passes only when the client waits
    api.get("/v2/actions/8").respond(200, json={"action": {**ACTION, "id": 8,
                                                           "status": "in-progress"}})
    with pytest.raises(CloudError, match="still running"):
        await do.wait_for_action(8, timeout=30)


async def test_destroy_by_id_and_by_tag(api: respx.MockRouter, do: DigitalOceanClient) -> None:
    one = api.delete("/v2/droplets/9").respond(204)
    tagged = api.delete("/v2/droplets").respond(204)
    await do.delete_droplet(9)
    await do.delete_droplets_by_tag("ibdesk-req:abc")
    assert one.called
    assert tagged.calls.last.request.url.params["tag_name"] == "ibdesk-req:abc"


async def test_firewall_lifecycle(api: respx.MockRouter, do: DigitalOceanClient) -> None:
    body = spec.examples("firewalls/firewalls_create.yml", 202)[0]
    fw_id = body["firewall"]["id"]
    create = api.post("/v2/firewalls").respond(202, json=body)
    update = api.put(f"/v2/firewalls/{fw_id}").respond(
        200, json=spec.examples("firewalls/firewalls_update.yml", 200)[0])
    add_d = api.post(f"/v2/firewalls/{fw_id}/droplets").respond(204)
    rm_d = api.delete(f"/v2/firewalls/{fw_id}/droplets").respond(204)
    add_t = api.post(f"/v2/firewalls/{fw_id}/tags").respond(204)
    rm_t = api.delete(f"/v2/firewalls/{fw_id}/tags").respond(204)
    delete = api.delete(f"/v2/firewalls/{fw_id}").respond(204)
    rules = FirewallSpec(name="ibdesk-ssh", tags=["ibdesk"], inbound_rules=[
        InboundRule(protocol="tcp", ports="22", sources=RuleTarget(addresses=["203.0.113.7"]))])
    made = await do.create_firewall(rules)
    assert made.id == fw_id
    sent = json.loads(create.calls.last.request.content)
    assert sent["inbound_rules"] == [{"protocol": "tcp", "ports": "22",
                                      "sources": {"addresses": ["203.0.113.7"]}}]
    await do.update_firewall(fw_id, rules)
    await do.add_firewall_droplets(fw_id, [1, 2])
    await do.remove_firewall_droplets(fw_id, [2])
    await do.add_firewall_tags(fw_id, ["ibdesk"])
    await do.remove_firewall_tags(fw_id, ["ibdesk"])
    await do.delete_firewall(fw_id)
    assert json.loads(add_d.calls.last.request.content) == {"droplet_ids": [1, 2]}
    assert json.loads(rm_t.calls.last.request.content) == {"tags": ["ibdesk"]}
    assert all(r.called for r in (update, rm_d, add_t, delete))


async def test_catalogue_keys_and_tags(api: respx.MockRouter, do: DigitalOceanClient) -> None:
    api.get("/v2/regions").respond(200, json={**spec.sample("regions/regions_list.yml", 200)[0],
                                              "links": {}})
    api.get("/v2/images/182556282").respond(404, json=spec.error_example("not_found"))
    api.get("/v2/images/docker-20-04").respond(
        200, json=spec.examples("images/images_get.yml", 200)[0])
    api.get("/v2/account/keys").respond(200, json={
        **spec.sample("ssh_keys/sshKeys_list.yml", 200)[0], "links": {}})
    key = api.post("/v2/account/keys").respond(
        201, json=spec.sample("ssh_keys/sshKeys_create.yml", 201)[0])
    api.delete("/v2/account/keys/512189").respond(204)
    api.post("/v2/tags").respond(201, json=spec.sample("tags/tags_create.yml", 201)[0])
    api.delete("/v2/tags/extra-awesome").respond(204)

    assert (await do.list_regions())[0].slug == "nyc3"
    with pytest.raises(NotFound, match="image 182556282"):
        await do.get_image(182556282)
    assert (await do.get_image("docker-20-04")).id
    assert (await do.list_ssh_keys())[0].fingerprint
    made = await do.create_ssh_key("ibdesk", "ssh-ed25519 AAAA test")
    assert json.loads(key.calls.last.request.content) == {"name": "ibdesk",
                                                          "public_key": "ssh-ed25519 AAAA test"}
    await do.delete_ssh_key(made.id or 0)
    assert (await do.create_tag("extra-awesome")).name == "extra-awesome"
    await do.delete_tag("extra-awesome")


async def test_garbled_answers_are_clear_errors(api: respx.MockRouter,
                                                do: DigitalOceanClient) -> None:
    api.get("/v2/account").respond(200, text="<html>proxy</html>")
    with pytest.raises(CloudError, match="could not read"):
        await do.get_account()
    api.get("/v2/droplets/1").respond(200, json={"droplet": {"id": "x"}})
    with pytest.raises(CloudError, match="no valid `droplet`"):
        await do.get_droplet(1)


async def test_token_never_leaks(api: respx.MockRouter, caplog: pytest.LogCaptureFixture,
                                 sleeper: NoSleep, clock: Clock) -> None:
    caplog.set_level(logging.DEBUG)
    api.get("/v2/account").respond(401, json=spec.error_example("unauthorized"))
    api.get("/v2/droplets/1").mock(side_effect=httpx.ConnectError(f"boom {CANARY_TOKEN}"[:5]))
    texts: list[str] = []
    async with DigitalOceanClient(CANARY_TOKEN, base_url=BASE, sleep=sleeper,
                                  clock=clock) as do:
        texts += [repr(do), str(do), repr(do._http.auth), repr(vars(do))]
        for call in (do.get_account, lambda: do.get_droplet(1)):
            with pytest.raises(CloudError) as info:
                await call()
            texts += [str(info.value), repr(info.value), repr(info.value.context),
                      repr(info.value.__cause__), repr(info.value.__context__)]
    texts.append(caplog.text)
    assert caplog.records  # the client did log
    for text in texts:
        assert CANARY_TOKEN not in text
        assert CANARY_TOKEN[8:30] not in text


def test_empty_token_is_refused() -> None:
    with pytest.raises(CloudAuthError, match="No DigitalOcean API token"):
        DigitalOceanClient("  ")
