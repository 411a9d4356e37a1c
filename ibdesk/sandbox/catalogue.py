"""What the sandbox's DigitalOcean offers: real region and size slugs with their prices.

Prices are DigitalOcean's list prices for Basic droplets (hourly = monthly / 672, the
hours DigitalOcean bills a month at). A few gaps are deliberate so that the app's error
paths get exercised: `nyc2` is unavailable, the 8 GB size is missing from `blr1` and
`tor1`, and the seed's private snapshot `182556282` exists only when asked for.
"""

from __future__ import annotations

from typing import Any

SEED_IMAGE_ID = 182556282
DOCKER_IMAGE_SLUG = "docker-20-04"

_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"]

REGIONS: list[dict[str, Any]] = [
    {"slug": "nyc1", "name": "New York 1"},
    {"slug": "nyc2", "name": "New York 2", "available": False},
    {"slug": "nyc3", "name": "New York 3"},
    {"slug": "sfo3", "name": "San Francisco 3"},
    {"slug": "tor1", "name": "Toronto 1"},
    {"slug": "ams3", "name": "Amsterdam 3"},
    {"slug": "lon1", "name": "London 1"},
    {"slug": "fra1", "name": "Frankfurt 1"},
    {"slug": "sgp1", "name": "Singapore 1"},
    {"slug": "blr1", "name": "Bangalore 1"},
    {"slug": "syd1", "name": "Sydney 1"},
]

#: slug, memory MB, vcpus, disk GB, transfer TB, monthly USD, description, missing regions
_SIZES: list[tuple[str, int, int, int, float, float, str, set[str]]] = [
    ("s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4.0, "Basic", set()),
    ("s-1vcpu-1gb", 1024, 1, 25, 1.0, 6.0, "Basic", set()),
    ("s-1vcpu-2gb", 2048, 1, 50, 2.0, 12.0, "Basic", set()),
    ("s-2vcpu-2gb", 2048, 2, 60, 3.0, 18.0, "Basic", set()),
    ("s-2vcpu-4gb", 4096, 2, 80, 4.0, 24.0, "Basic", set()),
    ("s-4vcpu-8gb", 8192, 4, 160, 5.0, 48.0, "Basic", {"blr1", "tor1"}),
]


def _available_regions() -> list[str]:
    return [r["slug"] for r in REGIONS if r.get("available", True)]


def sizes() -> list[dict[str, Any]]:
    out = []
    for slug, memory, vcpus, disk, transfer, monthly, description, missing in _SIZES:
        out.append({
            "slug": slug, "memory": memory, "vcpus": vcpus, "disk": disk,
            "transfer": transfer, "price_monthly": monthly,
            "price_hourly": round(monthly / 672, 5),
            "regions": [r for r in _available_regions() if r not in missing],
            "available": True, "description": description,
            "disk_info": [{"type": "local", "size": {"amount": disk, "unit": "gib"}}],
        })
    return out


def size(slug: str) -> dict[str, Any] | None:
    return next((s for s in sizes() if s["slug"] == slug), None)


def regions() -> list[dict[str, Any]]:
    all_sizes = sizes()
    out = []
    for region in REGIONS:
        available = region.get("available", True)
        out.append({
            "name": region["name"], "slug": region["slug"], "features": list(_FEATURES),
            "available": available,
            "sizes": [s["slug"] for s in all_sizes if region["slug"] in s["regions"]]
            if available else [],
        })
    return out


def region(slug: str) -> dict[str, Any] | None:
    return next((r for r in regions() if r["slug"] == slug), None)


def images(with_seed_image: bool) -> list[dict[str, Any]]:
    every = _available_regions()
    out: list[dict[str, Any]] = [
        {"id": 112929454, "name": "Docker 25.0.3 on Ubuntu 22.04", "distribution": "Ubuntu",
         "slug": DOCKER_IMAGE_SLUG, "public": True, "regions": every, "type": "base",
         "created_at": "2024-03-01T10:00:00Z", "min_disk_size": 25, "size_gigabytes": 2.7,
         "description": "Docker (application)", "tags": [], "status": "available",
         "error_message": ""},
        {"id": 129211873, "name": "22.04 (LTS) x64", "distribution": "Ubuntu",
         "slug": "ubuntu-22-04-x64", "public": True, "regions": every, "type": "base",
         "created_at": "2023-04-20T10:00:00Z", "min_disk_size": 7, "size_gigabytes": 2.36,
         "description": "Ubuntu 22.04 x64", "tags": [], "status": "available",
         "error_message": ""},
        {"id": 160327286, "name": "24.04 (LTS) x64", "distribution": "Ubuntu",
         "slug": "ubuntu-24-04-x64", "public": True, "regions": every, "type": "base",
         "created_at": "2024-06-10T10:00:00Z", "min_disk_size": 7, "size_gigabytes": 2.5,
         "description": "Ubuntu 24.04 x64", "tags": [], "status": "available",
         "error_message": ""},
    ]
    if with_seed_image:
        out.append({
            "id": SEED_IMAGE_ID, "name": "ibeam-snapshot", "distribution": "Ubuntu",
            "slug": None, "public": False, "regions": ["nyc1", "nyc3"], "type": "snapshot",
            "created_at": "2025-02-11T16:20:00Z", "min_disk_size": 25, "size_gigabytes": 4.1,
            "description": "", "tags": [], "status": "available", "error_message": ""})
    return out


__all__ = ["DOCKER_IMAGE_SLUG", "REGIONS", "SEED_IMAGE_ID", "images", "region", "regions",
           "size", "sizes"]
