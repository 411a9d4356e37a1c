"""What the connect wizard offers (regions, sizes with prices), and the server plan: which
region, size and image a connect will really use, checked against DigitalOcean before
anything is created.

DigitalOcean refuses a create (422) when the size's disk is smaller than the image's
`min_disk_size`, when the size is not offered in the region, and when an image slug has
been withdrawn; after such a refusal nothing is lost, but the person learns it late and
without a choice. `plan_server` asks first and says what to pick instead.

The stock image is DigitalOcean's base `ubuntu-24-04-x64` (then `ubuntu-22-04-x64`, should
24.04 ever be withdrawn), with Docker and IBeam installed by ibdesk's cloud-init. The
seed's private snapshot is used only by the DigitalOcean account that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ibdesk.cloud import DigitalOceanClient, DOAccount, Image, Region, Size
from ibdesk.domain.errors import InvalidInput, NotFound
from ibdesk.services.control.ibeam_control import SEED_IMAGE_ID
from ibdesk.services.remote import in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

STOCK_IMAGES = ("ubuntu-24-04-x64", "ubuntu-22-04-x64")
LEGACY_STOCK_IMAGE = "docker-20-04"
"""The Docker 1-Click the seed used: 25 GB minimum disk, `ufw limit ssh`, a legacy slug."""


@dataclass(frozen=True)
class Catalogue:
    account: DOAccount
    regions: list[Region]
    sizes: list[Size]
    droplets_in_use: int
    droplet_names: tuple[str, ...] = ()
    """Every droplet's name on the DigitalOcean account (a new one must not repeat one)."""

    def sizes_in(self, region: str) -> list[Size]:
        return sorted((s for s in self.sizes if region in s.regions and s.available),
                      key=lambda s: s.price_monthly)

    @property
    def droplets_left(self) -> int:
        return max(0, self.account.droplet_limit - self.droplets_in_use)


async def load_catalogue(rt: Runtime) -> Catalogue:
    token = await in_thread(TokenService(rt).require)
    async with rt.cloud(token) as do:
        account = await do.get_account()
        regions = [r for r in await do.list_regions() if r.available]
        sizes = await do.list_sizes()
        droplets = await do.list_droplets()
    return Catalogue(account, sorted(regions, key=lambda r: r.slug), sizes, len(droplets),
                     tuple(d.name for d in droplets))


@dataclass(frozen=True)
class ServerPlan:
    region: str
    size: Size
    image: str | int
    """What the create request carries: a slug or an id."""
    image_label: str
    seed: bool
    """The seed's snapshot (IBeam already on it, no cloud-init) rather than the stock path."""
    warnings: tuple[str, ...] = ()


def _money(size: Size) -> str:
    return f"${size.price_monthly:g}/month"


def _fits(image: Image, size: Size) -> bool:
    return int(image.min_disk_size or 0) <= size.disk


def _label(image: Image, ref: str | int) -> str:
    return image.slug or (f"{image.name} ({image.id})" if image.name else str(ref))


async def plan_server(do: DigitalOceanClient, region: str, size_slug: str,
                      wanted: str | int) -> ServerPlan:
    """The region, size and image a connect will use, or InvalidInput saying what to pick."""
    regions = {r.slug: r for r in await do.list_regions()}
    if region not in regions or not regions[region].available:
        offered = ", ".join(sorted(s for s, r in regions.items() if r.available))
        raise InvalidInput(f"The region {region} is not available at DigitalOcean. Pick one "
                           f"of: {offered}.")
    sizes = {s.slug: s for s in await do.list_sizes()}
    here = sorted((s for s in sizes.values() if region in s.regions and s.available),
                  key=lambda s: s.price_monthly)
    size = sizes.get(size_slug)
    if size is None:
        raise InvalidInput(f"DigitalOcean has no server size {size_slug}. Sizes offered in "
                           f"{region}: {', '.join(s.slug for s in here) or 'none'}.")
    if region not in size.regions or not size.available:
        instead = f" or, in {region}, the size {here[0].slug} ({_money(here[0])})" if here \
            else ""
        raise InvalidInput(f"The size {size_slug} is not offered in {region}; it is offered in "
                           f"{', '.join(sorted(size.regions))}. Pick one of those regions"
                           f"{instead}.")
    warnings: list[str] = []
    wanted_text = str(wanted)
    if wanted_text == LEGACY_STOCK_IMAGE:
        warnings.append(f"{LEGACY_STOCK_IMAGE} is DigitalOcean's legacy Docker 1-Click (it "
                        "needs a 25 GB disk and limits SSH with ufw); using the stock image "
                        f"{STOCK_IMAGES[0]} with Docker from Ubuntu's packages instead.")
    elif wanted_text not in STOCK_IMAGES:
        try:
            image = await do.get_image(wanted)
        except NotFound:
            warnings.append(
                f"The seed's private snapshot {wanted} is not in this DigitalOcean account "
                "(it belongs to the seed's own account); using the stock image, which "
                "installs Docker and IBeam on the first boot."
                if wanted_text == str(SEED_IMAGE_ID) else
                f"Image {wanted} does not exist for this DigitalOcean account; using the "
                "stock image, which installs Docker and IBeam on the first boot.")
        else:
            label = _label(image, wanted)
            seed = image.id == SEED_IMAGE_ID
            if region not in image.regions:
                warnings.append(f"Image {label} is not available in {region} (only in "
                                f"{', '.join(image.regions[:8])}); using the stock image.")
            elif not _fits(image, size):
                warnings.append(f"Image {label} needs a {image.min_disk_size} GB disk and "
                                f"{size.slug} has {size.disk} GB; using the stock image.")
            elif not seed and (image.distribution or "Ubuntu") != "Ubuntu":
                raise InvalidInput(f"Image {label} is {image.distribution}: ibdesk's "
                                   "first-boot setup installs Docker with apt and needs an "
                                   f"Ubuntu image. Use {STOCK_IMAGES[0]}.")
            else:
                ref: str | int = image.id if image.id is not None else wanted
                return ServerPlan(region, size, ref, label, seed, tuple(warnings))
    start = STOCK_IMAGES.index(wanted_text) if wanted_text in STOCK_IMAGES else 0
    reasons = []
    for slug in STOCK_IMAGES[start:]:
        try:
            image = await do.get_image(slug)
        except NotFound:
            reasons.append(f"{slug} has been withdrawn by DigitalOcean")
            continue
        if region not in image.regions or not image.available:
            reasons.append(f"{slug} is not offered in {region}")
        elif not _fits(image, size):
            reasons.append(f"{slug} needs a {image.min_disk_size} GB disk and {size.slug} has "
                           f"{size.disk} GB")
        else:
            if slug != STOCK_IMAGES[start]:
                warnings.append(f"{'; '.join(reasons)}: using {slug} instead.")
            return ServerPlan(region, size, slug, slug, False, tuple(warnings))
    bigger = next((s for s in here if s.disk >= 25), None)
    raise InvalidInput(f"No stock image can be used: {'; '.join(reasons)}. Pick another "
                       "region" + (f", or a larger size such as {bigger.slug}" if bigger
                                   else "") + ".")


async def plan(rt: Runtime, region: str, size: str, image: str | int | None) -> ServerPlan:
    """`plan_server` with this installation's token and defaults (for the wizard)."""
    token = await in_thread(TokenService(rt).require)
    async with rt.cloud(token) as do:
        return await plan_server(do, region, size, image or rt.settings.image_id)


__all__ = ["Catalogue", "LEGACY_STOCK_IMAGE", "STOCK_IMAGES", "ServerPlan", "load_catalogue",
           "plan", "plan_server"]
