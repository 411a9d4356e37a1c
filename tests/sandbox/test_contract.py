"""The sandbox answers as DigitalOcean's OpenAPI description says, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncssh
import httpx
import jsonschema
import pytest

from ibdesk.sandbox import Sandbox
from tests import spec
from tests.helpers.sandbox import advance, fast_options

ERROR_SCHEMA = spec.schema("droplets/droplets_get.yml", 404)


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.api_url,
                                 headers={"Authorization": f"Bearer {sandbox.token}"}) as c:
        yield c


def check(response: httpx.Response, op: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    jsonschema.validate(body, spec.schema(op, status))
    for header in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        assert header in response.headers
    return body


def check_error(response: httpx.Response, status: int, error_id: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    jsonschema.validate(body, ERROR_SCHEMA)
    assert body["id"] == error_id and body["message"] and body["request_id"]
    return body


async def _key(http: httpx.AsyncClient) -> int:
    public = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    body = check(await http.post("/v2/account/keys", json={"name": "k", "public_key": public}),
                 "ssh_keys/sshKeys_create.yml", 201)
    return body["ssh_key"]["id"]


async def _droplet(http: httpx.AsyncClient, **kw: Any) -> dict[str, Any]:
    body = {"name": "jdoe-ib-demo-1", "region": "nyc1", "size": "s-1vcpu-1gb",
            "image": "docker-20-04", "tags": ["ibdesk"], **kw}
    return check(await http.post("/v2/droplets", json=body), "droplets/droplets_create.yml", 202)


async def test_catalogue_endpoints(http: httpx.AsyncClient) -> None:
    account = check(await http.get("/v2/account"), "account/account_get.yml", 200)["account"]
    assert account["droplet_limit"] == 25
    sizes = check(await http.get("/v2/sizes", params={"per_page": 200}),
                  "sizes/sizes_list.yml", 200)["sizes"]
    assert {"s-1vcpu-1gb", "s-1vcpu-512mb-10gb"} <= {s["slug"] for s in sizes}
    assert next(s for s in sizes if s["slug"] == "s-1vcpu-1gb")["price_monthly"] == 6.0
    regions = check(await http.get("/v2/regions", params={"per_page": 200}),
                    "regions/regions_list.yml", 200)["regions"]
    assert next(r for r in regions if r["slug"] == "sfo1")["available"] is False
    docker = check(await http.get("/v2/images/docker-20-04"), "images/images_get.yml", 200)
    assert (docker["image"]["type"], docker["image"]["min_disk_size"]) == ("application", 25)
    check(await http.get("/v2/images", params={"per_page": 200}), "images/images_list.yml", 200)
    check_error(await http.get("/v2/images/182556282"), 404, "not_found")


async def test_droplet_lifecycle_shapes(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    key = await _key(http)
    created = await _droplet(http, ssh_keys=[key], user_data="#cloud-config\n", monitoring=True)
    droplet = created["droplet"]
    assert droplet["status"] == "new" and droplet["networks"]["v4"] == []
    action_id = created["links"]["actions"][0]["id"]
    action = check(await http.get(f"/v2/actions/{action_id}"), "actions/actions_get.yml",
                   200)["action"]
    assert action["status"] == "in-progress" and action["type"] == "create"

    await advance(sandbox, 30)
    got = check(await http.get(f"/v2/droplets/{droplet['id']}"), "droplets/droplets_get.yml",
                200)["droplet"]
    assert got["status"] == "active"
    assert {n["type"] for n in got["networks"]["v4"]} == {"public", "private"}
    assert check(await http.get(f"/v2/actions/{action_id}"), "actions/actions_get.yml",
                 200)["action"]["status"] == "completed"

    posted = check(await http.post(f"/v2/droplets/{droplet['id']}/actions",
                                   json={"type": "shutdown"}),
                   "droplets/dropletActions_post.yml", 201)["action"]
    check(await http.get(f"/v2/droplets/{droplet['id']}/actions/{posted['id']}"),
          "droplets/dropletActions_get.yml", 200)
    assert got["locked"] is False
    assert check(await http.get(f"/v2/droplets/{droplet['id']}"), "droplets/droplets_get.yml",
                 200)["droplet"]["locked"] is True
    listed = check(await http.get("/v2/droplets"), "droplets/droplets_list.yml", 200)
    assert [d["locked"] for d in listed["droplets"]] == [True]
    check_error(await http.post(f"/v2/droplets/{droplet['id']}/actions",
                                json={"type": "reboot"}), 422, "unprocessable_entity")
    await advance(sandbox, 10)
    off = check(await http.get(f"/v2/droplets/{droplet['id']}"), "droplets/droplets_get.yml",
                200)["droplet"]
    assert off["status"] == "off" and off["locked"] is False

    assert (await http.delete(f"/v2/droplets/{droplet['id']}")).status_code == 204
    check_error(await http.get(f"/v2/droplets/{droplet['id']}"), 404, "not_found")


async def test_paging_links_and_meta(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    sandbox.world.config.droplet_limit = 500
    for i in range(5):
        await _droplet(http, name=f"d-{i}")
    first = check(await http.get("/v2/droplets", params={"per_page": 2, "tag_name": "ibdesk"}),
                  "droplets/droplets_list.yml", 200)
    assert first["meta"]["total"] == 5 and len(first["droplets"]) == 2
    pages = first["links"]["pages"]
    assert set(pages) == {"next", "last"}
    assert pages["next"].startswith(sandbox.api_url) and "tag_name=ibdesk" in pages["next"]
    second = check(await http.get(pages["next"]), "droplets/droplets_list.yml", 200)
    assert set(second["links"]["pages"]) == {"first", "prev", "next", "last"}
    last = check(await http.get(pages["last"]), "droplets/droplets_list.yml", 200)
    assert len(last["droplets"]) == 1 and set(last["links"]["pages"]) == {"first", "prev"}
    names = [d["name"] for p in (first, second, last) for d in p["droplets"]]
    assert names == [f"d-{i}" for i in range(5)]
    capped = (await http.get("/v2/droplets", params={"per_page": 999})).json()
    assert len(capped["droplets"]) == 5 and capped["links"] == {}


async def test_errors_in_digitaloceans_shape(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    bad = await http.get("/v2/account", headers={"Authorization": "Bearer nope"})
    assert check_error(bad, 401, "unauthorized")["message"] == "Unable to authenticate you."
    check_error(await http.get("/v2/account", headers={"Authorization": ""}), 401,
                "unauthorized")
    check_error(await http.get("/v2/droplets/12345"), 404, "not_found")
    check_error(await http.get("/v2/nothing-here"), 404, "not_found")
    for body, words in [
        ({"size": "s-1vcpu-512mb-10gb", "region": "tor1"},
         "Size is not available in this region."),
        ({"size": "s-1vcpu-512mb-10gb"}, "does not have enough disk space"),
        ({"size": "s-99"}, "invalid size"),
        ({"image": 182556282}, "invalid image"),
        ({"region": "sfo1"}, "Region is not available"),
        ({"name": "bad_name!"}, "valid hostname"),
        ({"ssh_keys": [1]}, "invalid SSH key"),
    ]:
        response = await http.post("/v2/droplets", json={
            "name": "x-ib-demo-1", "region": "nyc1", "size": "s-1vcpu-1gb",
            "image": "docker-20-04", **body})
        assert words in check_error(response, 422, "unprocessable_entity")["message"]
    sandbox.world.config.droplet_limit = 1
    await _droplet(http)
    over = await http.post("/v2/droplets", json={"name": "b", "region": "nyc1",
                                                 "size": "s-1vcpu-1gb", "image": "docker-20-04"})
    assert "droplet limit" in check_error(over, 422, "unprocessable_entity")["message"]
    check_error(await http.post("/v2/account/keys", json={"name": "k", "public_key": "junk"}),
                422, "unprocessable_entity")


async def test_a_withdrawn_slug_is_gone_and_refused(sandbox: Sandbox,
                                                     http: httpx.AsyncClient) -> None:
    """DigitalOcean retires slugs at end of life: 404 to look up, 422 to create from."""
    fits = {"name": "x-ib-demo-1", "region": "nyc1", "size": "s-1vcpu-512mb-10gb",
            "image": "ubuntu-24-04-x64"}
    check(await http.post("/v2/droplets", json=fits), "droplets/droplets_create.yml", 202)
    assert (await http.post("/_sandbox/v1/images/docker-20-04/withdraw")).status_code == 204
    check_error(await http.get("/v2/images/docker-20-04"), 404, "not_found")
    refused = await http.post("/v2/droplets", json={**fits, "size": "s-1vcpu-1gb",
                                                    "image": "docker-20-04"})
    assert "invalid image" in check_error(refused, 422, "unprocessable_entity")["message"]
    listed = (await http.get("/v2/images", params={"per_page": 200})).json()["images"]
    assert "docker-20-04" not in {i["slug"] for i in listed}


async def test_rate_limit_headers_and_429(http: httpx.AsyncClient) -> None:
    async with Sandbox(fast_options(rate_limit_per_minute=3)) as small:
        async with httpx.AsyncClient(base_url=small.api_url, headers={
                "Authorization": f"Bearer {small.token}"}) as c:
            seen = [await c.get("/v2/account") for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert [int(r.headers["ratelimit-remaining"]) for r in seen] == [4999, 4998, 4997, 4997]
    check_error(seen[3], 429, "too_many_requests")
    assert int(seen[3].headers["ratelimit-reset"]) > 0


async def test_firewalls_and_tags(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    droplet = (await _droplet(http))["droplet"]
    body = {"name": "ibdesk-ssh", "tags": ["ibdesk"], "inbound_rules": [
        {"protocol": "tcp", "ports": "22", "sources": {"addresses": ["203.0.113.10/32"]}}],
        "outbound_rules": [{"protocol": "tcp", "ports": "0",
                            "destinations": {"addresses": ["0.0.0.0/0", "::/0"]}}]}
    fw = check(await http.post("/v2/firewalls", json=body), "firewalls/firewalls_create.yml",
               202)["firewall"]
    check(await http.get(f"/v2/firewalls/{fw['id']}"), "firewalls/firewalls_get.yml", 200)
    check(await http.get("/v2/firewalls"), "firewalls/firewalls_list.yml", 200)
    updated = check(await http.put(f"/v2/firewalls/{fw['id']}", json={**body, "name": "fw2"}),
                    "firewalls/firewalls_update.yml", 200)["firewall"]
    assert updated["name"] == "fw2"
    assert (await http.post(f"/v2/firewalls/{fw['id']}/droplets",
                            json={"droplet_ids": [droplet["id"]]})).status_code == 204
    assert sandbox.world.firewall(fw["id"]).droplet_ids == [droplet["id"]]
    assert (await http.request("DELETE", f"/v2/firewalls/{fw['id']}/tags",
                               json={"tags": ["ibdesk"]})).status_code == 204
    assert (await http.delete(f"/v2/firewalls/{fw['id']}")).status_code == 204
    check_error(await http.get(f"/v2/firewalls/{fw['id']}"), 404, "not_found")
    check_error(await http.post("/v2/firewalls", json={"name": "-bad"}), 400, "bad_request")

    tag = check(await http.post("/v2/tags", json={"name": "ibdesk-req:abc"}),
                "tags/tags_create.yml", 201)["tag"]
    assert tag["name"] == "ibdesk-req:abc"
    check(await http.get("/v2/tags/ibdesk"), "tags/tags_get.yml", 200)
    assert (await http.delete("/v2/tags/ibdesk-req:abc")).status_code == 204
    check_error(await http.get("/v2/tags/ibdesk-req:abc"), 404, "not_found")
    check_error(await http.post("/v2/tags", json={"name": "bad tag"}), 400, "bad_request")


async def test_every_request_body_is_recorded(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    await _droplet(http, user_data="#cloud-config\n# marker-123\n")
    log = (await http.get("/_sandbox/v1/requests")).json()["requests"]
    assert any("marker-123" in r["body"] for r in log)


async def test_a_droplet_page_renders_only_its_droplets(
        sandbox: Sandbox, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendering every droplet for every page made a 1,000-droplet list cost five times
    its work in `sandbox serve` (five pages of 200)."""
    from ibdesk.sandbox import api

    sandbox.world.config.droplet_limit = 500
    for i in range(5):
        await _droplet(http, name=f"d-{i}")
    rendered: list[int] = []
    real = api.render_droplet

    def counting(world: Any, d: Any, *rest: Any) -> dict[str, Any]:
        rendered.append(d.id)
        return real(world, d, *rest)

    monkeypatch.setattr(api, "render_droplet", counting)
    page = check(await http.get("/v2/droplets", params={"per_page": 2, "page": 2}),
                 "droplets/droplets_list.yml", 200)
    assert rendered == [d["id"] for d in page["droplets"]] and len(rendered) == 2
    assert page["meta"]["total"] == 5


def test_catalogue_lookups_are_copies_of_the_listed_objects() -> None:
    from ibdesk.sandbox import catalogue

    for slug in ("nyc1", "sfo1"):
        assert catalogue.region(slug) == next(r for r in catalogue.regions()
                                              if r["slug"] == slug)
    size = catalogue.size("s-1vcpu-1gb")
    assert size is not None and size == next(s for s in catalogue.sizes()
                                             if s["slug"] == "s-1vcpu-1gb")
    size["regions"].clear()
    assert catalogue.size("s-1vcpu-1gb") != size
    assert catalogue.region("nowhere") is None and catalogue.size("nothing") is None
