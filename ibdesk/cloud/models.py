"""DigitalOcean API v2 objects, field for field from its OpenAPI description.

Each class names the spec file it mirrors (under `specification/resources/`). Fields
the spec marks required are required here; the rest default to None/empty. Unknown
fields are ignored, so that DigitalOcean adding a field never breaks ibdesk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---------------------------------------------------------------- account/models/account.yml
class Team(_Model):
    uuid: str | None = None
    name: str | None = None


class DOAccount(_Model):
    droplet_limit: int
    floating_ip_limit: int
    email: str
    name: str | None = None
    uuid: str
    email_verified: bool
    status: Literal["active", "warning", "locked"]
    status_message: str
    team: Team | None = None


# ---------------------------------------------------------------- sizes/models/*.yml
class Amount(_Model):
    amount: int | None = None
    unit: str | None = None


class DiskInfo(_Model):
    type: Literal["local", "boot", "scratch"] | None = None
    size: Amount | None = None


class GpuInfo(_Model):
    count: int | None = None
    model: str | None = None
    vram: Amount | None = None


class Size(_Model):
    slug: str
    memory: int
    vcpus: int
    disk: int
    transfer: float
    price_monthly: float
    price_hourly: float
    regions: list[str]
    available: bool = True
    description: str
    disk_info: list[DiskInfo] = Field(default_factory=list)
    gpu_info: GpuInfo | None = None


# ---------------------------------------------------------------- regions/models/region.yml
class Region(_Model):
    name: str
    slug: str
    features: list[str]
    available: bool
    sizes: list[str]


# ---------------------------------------------------------------- images/models/image.yml
class Image(_Model):
    """`type` and `status` are open strings: the spec's enums lack what DigitalOcean really
    sends (`application` for every 1-Click, see reference/digitalocean-observed/), and a
    droplet embeds its image, so a closed enum here would make every droplet built from a
    1-Click unreadable, and with it every list of droplets that holds one."""

    id: int | None = None
    name: str | None = None
    type: str | None = None
    """`base`, `snapshot`, `backup`, `custom`, `admin` in the spec; `application` (1-Clicks)
    and others in reality."""
    distribution: str | None = None
    slug: str | None = None
    public: bool | None = None
    regions: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    min_disk_size: int | None = None
    size_gigabytes: float | None = None
    description: str | None = None
    tags: list[str] | None = None
    status: str | None = None
    """`NEW`, `available`, `pending`, `deleted`, `retired` in the spec; open, like `type`."""
    error_message: str | None = None

    @property
    def available(self) -> bool:
        return self.status in (None, "available")


# ---------------------------------------------------------------- ssh_keys/models/sshKeys.yml
class SSHKey(_Model):
    id: int | None = None
    fingerprint: str | None = None
    public_key: str
    name: str


# ---------------------------------------------------------------- droplets/models/*.yml
class Kernel(_Model):
    id: int | None = None
    name: str | None = None
    version: str | None = None


class BackupWindow(_Model):
    start: datetime | None = None
    end: datetime | None = None


class NetworkV4(_Model):
    ip_address: str | None = None
    netmask: str | None = None
    gateway: str | None = None
    type: Literal["public", "private"] | None = None


class NetworkV6(_Model):
    ip_address: str | None = None
    netmask: int | None = None
    gateway: str | None = None
    type: Literal["public"] | None = None


class Networks(_Model):
    v4: list[NetworkV4] = Field(default_factory=list)
    v6: list[NetworkV6] = Field(default_factory=list)


class DropletSummary(_Model):
    """What the monitor reads of each listed droplet, every cycle: a full droplet (its
    image, size and region, each with lists of slugs) takes 14.5 µs to read, these fields
    3.3 µs, and every object not made is one the garbage collector need not visit."""

    id: int
    name: str
    status: Literal["new", "active", "off", "archive"]
    networks: Networks
    tags: list[str] = Field(default_factory=list)

    @property
    def public_ipv4(self) -> str | None:
        for net in self.networks.v4:
            if net.type == "public":
                return net.ip_address
        return None


class Droplet(DropletSummary):
    memory: int
    vcpus: int
    disk: int
    disk_info: list[DiskInfo] = Field(default_factory=list)
    locked: bool
    kernel: Kernel | None = None
    created_at: datetime
    features: list[str]
    backup_ids: list[int]
    next_backup_window: BackupWindow | None
    snapshot_ids: list[int]
    image: Image
    volume_ids: list[str]
    size: Size
    size_slug: str
    region: Region
    tags: list[str]
    vpc_uuid: str | None = None
    gpu_info: GpuInfo | None = None


class DropletCreate(_Model):
    """droplets/models/droplet_single_create.yml + droplet_create.yml (what ibdesk sends)."""

    name: str = Field(max_length=255, pattern=r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")
    region: str | None = None
    size: str
    image: str | int
    ssh_keys: list[str | int] = Field(default_factory=list)
    backups: bool = False
    ipv6: bool = False
    monitoring: bool = False
    tags: list[str] = Field(default_factory=list)
    user_data: str | None = Field(None, max_length=64 * 1024)
    vpc_uuid: str | None = None
    with_droplet_agent: bool | None = None


# ---------------------------------------------------------------- actions/models/action.yml
class Action(_Model):
    id: int
    status: Literal["in-progress", "completed", "errored"] = "in-progress"
    type: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    resource_id: int | None = None
    resource_type: str | None = None
    region: Region | None = None
    region_slug: str | None = None


DropletActionType = Literal[
    "enable_backups", "disable_backups", "reboot", "power_cycle", "shutdown", "power_off",
    "power_on", "restore", "password_reset", "resize", "rebuild", "rename", "change_kernel",
    "enable_ipv6", "snapshot",
]


# ---------------------------------------------------------------- firewalls/models/*.yml
class RuleTarget(_Model):
    addresses: list[str] | None = None
    droplet_ids: list[int] | None = None
    load_balancer_uids: list[str] | None = None
    kubernetes_ids: list[str] | None = None
    tags: list[str] | None = None


class InboundRule(_Model):
    protocol: Literal["tcp", "udp", "icmp"]
    ports: str
    sources: RuleTarget


class OutboundRule(_Model):
    protocol: Literal["tcp", "udp", "icmp"]
    ports: str
    destinations: RuleTarget


class PendingChange(_Model):
    droplet_id: int | None = None
    removing: bool | None = None
    status: str | None = None


class FirewallSpec(_Model):
    """What ibdesk sends to create or replace a firewall (PUT replaces every field)."""

    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9\.-]+$")
    droplet_ids: list[int] | None = None
    tags: list[str] | None = None
    inbound_rules: list[InboundRule] | None = None
    outbound_rules: list[OutboundRule] | None = None


class Firewall(_Model):
    id: str
    status: Literal["waiting", "succeeded", "failed"] | None = None
    created_at: datetime | None = None
    pending_changes: list[PendingChange] = Field(default_factory=list)
    name: str
    droplet_ids: list[int] | None = None
    tags: list[str] | None = None
    inbound_rules: list[InboundRule] | None = None
    outbound_rules: list[OutboundRule] | None = None


# ---------------------------------------------------------------- tags/models/tags.yml
class Tag(_Model):
    name: str
    resources: dict[str, Any] | None = None


# shared/pages.yml and meta.yml (links, meta) are read as plain JSON by the client's pager.


# ---------------------------------------------------------------- shared/models/error.yml
class APIErrorBody(_Model):
    id: str
    message: str
    request_id: str | None = None


__all__ = [
    "APIErrorBody",
    "Action",
    "DOAccount",
    "Droplet",
    "DropletActionType",
    "DropletCreate",
    "Firewall",
    "FirewallSpec",
    "Image",
    "InboundRule",
    "NetworkV4",
    "NetworkV6",
    "OutboundRule",
    "Region",
    "RuleTarget",
    "SSHKey",
    "Size",
    "Tag",
]
