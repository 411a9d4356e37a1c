"""What the sandbox's DigitalOcean offers: DigitalOcean's own answers, as observed.

Regions, sizes and images are real objects (`observed/*.json`: `GET /v2/regions`,
`/v2/sizes` and `/v2/images` as the public bukowabot/digitalocean-images repository
dumped them in 2024-09 and 2024-10; each file names its dump). They differ from the
OpenAPI description where reality does: every 1-Click image (the Docker one included,
slug `docker-20-04`) is `type: "application"` and `public: false` with
`min_disk_size: 25`; base images such as `ubuntu-24-04-x64` need 7 GB; the $4 size
`s-1vcpu-512mb-10gb` has a 10 GB disk and is offered in 6 regions only; `sfo1` and
`ams2` are unavailable. Building the sandbox from these instead of from beliefs is what
lets it refuse what DigitalOcean refuses.

Two things are the sandbox's own: the seed's private snapshot `182556282` (it belongs to
the seed's DigitalOcean account, so it exists only with `--with-seed-image`), and
withdrawal: DigitalOcean retires image slugs at end of life, after which `GET` answers
404 and a create 422; `World.withdraw_image` does that to any slug.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

SEED_IMAGE_ID = 182556282
DOCKER_IMAGE_SLUG = "docker-20-04"
"""The legacy Docker 1-Click (Docker on Ubuntu 22.04 since 2023)."""


@cache
def _observed(name: str) -> dict[str, Any]:
    text = resources.files("ibdesk.sandbox").joinpath(f"observed/{name}.json").read_text(
        encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _fresh(name: str, key: str) -> list[dict[str, Any]]:
    """A copy, so that nobody changes the observed objects by accident."""
    return copy.deepcopy(list(_observed(name)[key]))


@cache
def _by_slug(name: str, key: str) -> dict[str, dict[str, Any]]:
    """The observed objects by slug (the first of each, as a search through the list
    finds). Every droplet the sandbox renders carries its size and region: copying the
    whole catalogue to find one of them was over half of `sandbox serve`'s CPU in a
    1,000-droplet monitor benchmark."""
    out: dict[str, dict[str, Any]] = {}
    for item in _observed(name)[key]:
        out.setdefault(item["slug"], item)
    return out


def _one(name: str, key: str, slug: str) -> dict[str, Any] | None:
    found = _by_slug(name, key).get(slug)
    return copy.deepcopy(found) if found is not None else None


def sizes() -> list[dict[str, Any]]:
    return _fresh("sizes", "sizes")


def size(slug: str) -> dict[str, Any] | None:
    return _one("sizes", "sizes", slug)


def regions() -> list[dict[str, Any]]:
    return _fresh("regions", "regions")


def region(slug: str) -> dict[str, Any] | None:
    return _one("regions", "regions", slug)


SEED_SNAPSHOT: dict[str, Any] = {
    "id": SEED_IMAGE_ID, "name": "ibeam-snapshot", "distribution": "Ubuntu", "slug": None,
    "public": False, "regions": ["nyc1", "nyc3"], "type": "snapshot",
    "created_at": "2025-02-11T16:20:00Z", "min_disk_size": 25, "size_gigabytes": 4.1,
    "description": "", "tags": [], "status": "available", "error_message": ""}
"""The seed's private IBeam snapshot, shaped like a snapshot DigitalOcean lists."""


def images(with_seed_image: bool, withdrawn: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    out = [i for i in _fresh("images", "images") if i.get("slug") not in withdrawn]
    if with_seed_image:
        out.append(copy.deepcopy(SEED_SNAPSHOT))
    return out


__all__ = ["DOCKER_IMAGE_SLUG", "SEED_IMAGE_ID", "SEED_SNAPSHOT", "images", "region",
           "regions", "size", "sizes"]
