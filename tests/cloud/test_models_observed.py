"""The client reads what DigitalOcean really sends, not only what its spec promises.

The objects are real answers (ibdesk/sandbox/observed/, copied from
reference/digitalocean-observed/): the sandbox serves them, and these tests make sure
the client's models accept every one of them, and every droplet built from them.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
import respx

from ibdesk.cloud import DigitalOceanClient, Droplet, DropletCreate, Image, Region, Size
from tests import spec


def observed(name: str) -> list[dict[str, Any]]:
    text = resources.files("ibdesk.sandbox").joinpath(f"observed/{name}.json").read_text()
    return json.loads(text)[name]


@pytest.mark.parametrize(("name", "model"), [("images", Image), ("sizes", Size),
                                             ("regions", Region)])
def test_every_observed_object_parses(name: str, model: type[Image | Size | Region]) -> None:
    objects = observed(name)
    assert objects
    for item in objects:
        parsed = model.model_validate(item)
        assert parsed.slug == item["slug"]


def test_the_docker_one_click_is_an_application_image() -> None:
    docker = next(i for i in observed("images") if i["slug"] == "docker-20-04")
    image = Image.model_validate(docker)
    assert (image.type, image.public, image.min_disk_size) == ("application", False, 25)
    # The spec's enum would refuse it: this is the difference the models must allow.
    strict = spec.schema("images/images_get.yml", 200, observed=False)
    with pytest.raises(jsonschema.ValidationError, match="application"):
        jsonschema.validate({"image": docker}, strict)
    jsonschema.validate({"image": docker}, spec.schema("images/images_get.yml", 200))


def _droplet_from(image: dict[str, Any]) -> dict[str, Any]:
    body = spec.sample("droplets/droplets_get.yml", 200)[0]["droplet"]
    return {**body, "image": image}


@pytest.mark.parametrize("slug", [i["slug"] for i in observed("images")])
def test_a_droplet_embedding_any_observed_image_parses(slug: str) -> None:
    image = next(i for i in observed("images") if i["slug"] == slug)
    droplet = Droplet.model_validate(_droplet_from(image))
    assert droplet.image.slug == slug


async def test_create_and_list_survive_a_one_click_droplet(api: respx.MockRouter,
                                                           do: DigitalOceanClient) -> None:
    """A droplet built from a 1-Click used to make create raise after the droplet existed
    (billed) and every list of droplets fail: both must read it."""
    docker = next(i for i in observed("images") if i["slug"] == "docker-20-04")
    droplet = _droplet_from(docker)
    api.post("/v2/droplets").respond(202, json={"droplet": droplet, "links": {"actions": []}})
    api.get("/v2/droplets").respond(200, json={"droplets": [droplet], "links": {},
                                               "meta": {"total": 1}})
    created, _ = await do.create_droplet(DropletCreate(
        name="bob-ib-demo-1", region="nyc1", size="s-1vcpu-1gb", image="docker-20-04"))
    assert created.image.type == "application"
    assert [d.id for d in await do.list_droplets()] == [droplet["id"]]


async def test_the_monitors_summary_reads_what_the_full_droplet_says(
        api: respx.MockRouter, do: DigitalOceanClient) -> None:
    """The monitor lists droplets as DropletSummary (status, address, tags only): on the
    same answer it must say what Droplet says, and not read the rest (a summary has no
    size or region: reading them is what a thousand droplets a cycle spent time on)."""
    droplets = [_droplet_from(image) for image in observed("images")]
    for number, droplet in enumerate(droplets):
        droplet["id"] = number + 1
    droplets[0]["status"] = "off"
    api.get("/v2/droplets").respond(200, json={"droplets": droplets, "links": {},
                                               "meta": {"total": len(droplets)}})
    full = await do.list_droplets(tag_name="ibdesk")
    summaries = await do.list_droplet_summaries(tag_name="ibdesk")
    assert [(d.id, d.status, d.public_ipv4, d.tags) for d in summaries] == \
        [(d.id, d.status, d.public_ipv4, d.tags) for d in full]
    assert summaries[0].status == "off" and summaries[1].public_ipv4
    assert not hasattr(summaries[0], "size") and not hasattr(summaries[0], "region")
    assert api.calls.last.request.url.params["tag_name"] == "ibdesk"
