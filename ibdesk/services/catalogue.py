"""What the connect wizard offers: regions, sizes with prices, and the image check."""

from __future__ import annotations

from dataclasses import dataclass

from ibdesk.cloud import DOAccount, Region, Size
from ibdesk.services.remote import in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService


@dataclass(frozen=True)
class Catalogue:
    account: DOAccount
    regions: list[Region]
    sizes: list[Size]
    droplets_in_use: int

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
        used = len(await do.list_droplets())
    return Catalogue(account, sorted(regions, key=lambda r: r.slug), sizes, used)


__all__ = ["Catalogue", "load_catalogue"]
