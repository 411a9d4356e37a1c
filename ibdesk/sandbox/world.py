"""The sandbox's DigitalOcean account: droplets, actions, keys, firewalls, tags, faults.

Time is simulated lazily: a droplet stores when it was created and when it will be
active, an action when it will complete, and every read first applies whatever has
become due (`tick`). Nothing runs per droplet while nothing happens, which is what lets
one process hold a thousand of them. `SimClock.advance` moves time on for tests of
grace periods and daily resets.

Everything here is plain data (dataclasses) so that `--state FILE` can save the world
as JSON and load it again.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import asyncssh

from ibdesk.sandbox import catalogue


class SimClock:
    """Wall-clock time plus an offset that tests can move forward."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class APIError(Exception):
    """An error answer in DigitalOcean's shape."""

    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message


NOT_FOUND = "The resource you requested could not be found."
"""DigitalOcean's sentence for every unknown id, slug or path (the one place it is written)."""


def not_found() -> APIError:
    return APIError(404, "not_found", NOT_FOUND)


def unprocessable(message: str) -> APIError:
    return APIError(422, "unprocessable_entity", message)


class HostEvent(StrEnum):
    """What the world tells the host manager (`Sandbox.sync_hosts`) to do to a droplet's
    simulated host."""

    BOOTED = "booted"
    OFF = "off"
    ON = "on"
    REBOOT = "reboot"
    DESTROYED = "destroyed"
    RESTORED = "restored"
    """The sandbox process restarted, not the droplet: its IBeam kept its session."""

    @property
    def starts(self) -> bool:
        return self in (HostEvent.BOOTED, HostEvent.ON, HostEvent.REBOOT, HostEvent.RESTORED)


@dataclass
class SSHKeyRec:
    id: int
    name: str
    public_key: str
    fingerprint: str


@dataclass
class DropletRec:
    id: int
    name: str
    region: str
    size: str
    image: dict[str, Any]
    tags: list[str]
    ssh_public_keys: list[str]
    user_data: str | None
    monitoring: bool
    vpc_uuid: str
    created_at: float
    active_at: float
    ipv4: str
    private_ipv4: str
    host_key: str
    power: str = "active"  # after boot: "active" or "off"
    ibeam_enabled: bool = False
    """The seed image's starter ran on this droplet: it runs again after a boot (droplets
    made by ibdesk keep this in their own systemd unit instead)."""


@dataclass
class ActionRec:
    id: int
    type: str
    droplet_id: int
    region_slug: str
    started_at: float
    completes_at: float
    outcome: str = "completed"
    applied: bool = False


@dataclass
class FirewallRec:
    id: str
    name: str
    created_at: float
    droplet_ids: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    inbound_rules: list[dict[str, Any]] = field(default_factory=list)
    outbound_rules: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Faults:
    """What the admin API and the serve flags can switch on."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    """Share of API requests answered with a 500."""
    timeout_rate: float = 0.0
    """Share of API requests that hang until the client gives up."""
    rate_limit_burst: int = 0
    """The next N API requests get a 429."""
    fail_actions: dict[str, int] = field(default_factory=dict)
    """Action type → how many of the next such actions end `errored`."""
    cloud_init_degraded: int = 0
    """The next N first boots end `degraded` (done, with a recoverable error)."""
    lost_answers: dict[str, int] = field(default_factory=dict)
    """"METHOD /path" → how many of the next such requests are carried out and then
    answered with nothing (the connection is cut): a create whose answer never arrived."""

    def update(self, body: dict[str, Any]) -> None:
        """Switch on what `body` names (the admin API's `POST faults`); counts add up."""
        for key in ("latency_ms", "error_rate", "timeout_rate"):
            if key in body:
                setattr(self, key, float(body[key]))
        if "rate_limit_burst" in body:
            self.rate_limit_burst = int(body["rate_limit_burst"])
        if "fail_actions" in body:
            self.fail_actions.update({str(k): int(v) for k, v in body["fail_actions"].items()})
        if "cloud_init_degraded" in body:
            self.cloud_init_degraded = int(body["cloud_init_degraded"])
        if "lost_answers" in body:
            self.lost_answers.update({str(k): int(v) for k, v in body["lost_answers"].items()})


@dataclass
class Config:
    tokens: list[str]
    boot_seconds: float = 5.0
    action_seconds: float = 2.0
    droplet_limit: int = 25
    with_seed_image: bool = False
    rate_limit_per_hour: int = 5000
    rate_limit_per_minute: int = 250
    workstation_ip: str = "203.0.113.10"
    """The address the sandbox's firewalls see the workstation's SSH coming from."""
    read_only_tokens: list[str] = field(default_factory=list)
    """Tokens accepted for reading only (a token without write scope): writes get 403."""
    withdrawn_images: list[str] = field(default_factory=list)
    """Image slugs DigitalOcean has retired: 404 on GET, 422 at create."""


class World:
    """One DigitalOcean account, as the sandbox API serves it."""

    def __init__(self, config: Config, clock: SimClock | None = None, seed: int = 0) -> None:
        self.config = config
        self.clock = clock or SimClock()
        self.faults = Faults()
        self.random = random.Random(seed)
        self.account_uuid = uuid.UUID(int=self.random.getrandbits(128)).hex
        self.ssh_keys: dict[int, SSHKeyRec] = {}
        self.droplets: dict[int, DropletRec] = {}
        self.revision = 0
        """Bumped by what time changes in the saved state (an action applied, the clock
        moved); the API's changes are saved as they are made. The tick saves only when
        it moved: rewriting a 1,000-droplet world every 2 s took ~11 % of a core."""
        self.actions: dict[int, ActionRec] = {}
        self.firewalls: dict[str, FirewallRec] = {}
        self.tags: dict[str, float] = {}
        self.next_id = {"droplet": 410_000_001, "action": 2_000_000_001, "key": 41_000_001,
                        "ip": 1}
        self.events: deque[tuple[HostEvent, int]] = deque()
        """(event, droplet id) for the host manager."""
        self.requests: deque[dict[str, Any]] = deque(maxlen=20_000)
        """Every API request body received (for the canary tests)."""
        self._hits: dict[str, deque[float]] = {}
        self._booted: set[int] = set()

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Move the simulated clock on and apply what became due; the new time."""
        if seconds < 0:
            raise APIError(400, "bad_request", "time only moves forward")
        self.clock.advance(seconds)
        self.revision += 1
        self.tick()
        return self.now()

    def _new_id(self, kind: str) -> int:
        value = self.next_id[kind]
        self.next_id[kind] += 1
        return value

    def tick(self) -> None:
        """Apply everything that has become due."""
        now = self.now()
        for droplet in self.droplets.values():
            if droplet.id not in self._booted and now >= droplet.active_at:
                self._booted.add(droplet.id)
                self.events.append((HostEvent.BOOTED, droplet.id))
        for action in self.actions.values():
            if action.applied or now < action.completes_at:
                continue
            action.applied = True
            self.revision += 1
            target = self.droplets.get(action.droplet_id)
            if target is None or action.outcome != "completed":
                continue
            if action.type in ("power_off", "shutdown"):
                target.power = "off"
                self.events.append((HostEvent.OFF, target.id))
            elif action.type == "power_on" and target.power == "off":
                target.power = "active"
                self.events.append((HostEvent.ON, target.id))
            elif action.type in ("reboot", "power_cycle"):
                target.power = "active"
                self.events.append((HostEvent.REBOOT, target.id))

    def droplet_status(self, droplet: DropletRec) -> str:
        return "new" if self.now() < droplet.active_at else droplet.power

    def droplet_locked(self, droplet: DropletRec) -> bool:
        return droplet.id in self.locked_droplet_ids()

    def locked_droplet_ids(self) -> set[int]:
        """The droplets with an action (other than their create) still in progress:
        DigitalOcean's `locked`. One pass over the actions, so that a list of droplets
        costs one pass rather than one a droplet."""
        now = self.now()
        return {a.droplet_id for a in self.actions.values()
                if not a.applied and now < a.completes_at and a.type != "create"}

    # ------------------------------------------------------------------ rate limits
    def rate_limit(self, token: str) -> tuple[dict[str, str], bool]:
        """Count one request; returns the ratelimit-* headers and whether it is refused.

        As DigitalOcean does, the headers describe the hourly quota; a request refused by
        the per-minute limit (or a burst fault) still shows the hourly requests left.
        """
        now = self.now()
        hits = self._hits.setdefault(token, deque())
        while hits and hits[0] <= now - 3600:
            hits.popleft()
        last_minute = 0
        for stamp in reversed(hits):
            if stamp <= now - 60:
                break
            last_minute += 1
        hourly_full = len(hits) >= self.config.rate_limit_per_hour
        refused = hourly_full or last_minute >= self.config.rate_limit_per_minute
        if self.faults.rate_limit_burst > 0:
            self.faults.rate_limit_burst -= 1
            refused = True
        if not refused:
            hits.append(now)
        remaining = max(0, self.config.rate_limit_per_hour - len(hits))
        reset = int((hits[0] if hits else now) + 3600)
        return ({"ratelimit-limit": str(self.config.rate_limit_per_hour),
                 "ratelimit-remaining": str(remaining),
                 "ratelimit-reset": str(reset)}, refused)

    # ------------------------------------------------------------------ account
    def account(self) -> dict[str, Any]:
        return {"droplet_limit": self.config.droplet_limit, "floating_ip_limit": 3,
                "email": "sandbox@ibdesk.invalid", "name": "Sandbox Trader",
                "uuid": self.account_uuid, "email_verified": True, "status": "active",
                "status_message": ""}

    # ------------------------------------------------------------------ images
    def images(self) -> list[dict[str, Any]]:
        return catalogue.images(self.config.with_seed_image,
                                frozenset(self.config.withdrawn_images))

    def withdraw_image(self, slug: str) -> None:
        """DigitalOcean retires a slug at the end of its life (as it did the 20.04 build of
        the Docker 1-Click): from then on it is unknown to GET and refused at create."""
        if slug not in self.config.withdrawn_images:
            self.config.withdrawn_images.append(slug)

    def image(self, ref: str | int) -> dict[str, Any]:
        for image in self.images():
            if str(image["id"]) == str(ref) or (image["slug"] and image["slug"] == str(ref)):
                return image
        raise not_found()

    # ------------------------------------------------------------------ SSH keys
    def add_ssh_key(self, name: Any, public_key: Any) -> SSHKeyRec:
        if not isinstance(name, str) or not name.strip():
            raise unprocessable("Name can't be blank")
        if not isinstance(public_key, str):
            raise unprocessable("Public key can't be blank")
        try:
            key = asyncssh.import_public_key(public_key.strip())
        except (asyncssh.KeyImportError, ValueError):
            raise unprocessable(
                "Key invalid type, we support 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', "
                "'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', or 'ssh-ed25519'") from None
        fingerprint = key.get_fingerprint("md5").removeprefix("MD5:")
        if any(k.fingerprint == fingerprint for k in self.ssh_keys.values()):
            raise unprocessable("SSH Key is already in use on your account")
        rec = SSHKeyRec(self._new_id("key"), name.strip(), public_key.strip(), fingerprint)
        self.ssh_keys[rec.id] = rec
        return rec

    def ssh_key(self, ref: str | int) -> SSHKeyRec:
        for key in self.ssh_keys.values():
            if str(key.id) == str(ref) or key.fingerprint == str(ref):
                return key
        raise not_found()

    def delete_ssh_key(self, ref: str | int) -> None:
        del self.ssh_keys[self.ssh_key(ref).id]

    # ------------------------------------------------------------------ tags
    def create_tag(self, name: Any) -> str:
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_\-:]{1,255}", name):
            raise APIError(400, "bad_request",
                           "tag name must contain only letters, numbers, colons, dashes "
                           "and underscores")
        self.tags.setdefault(name, self.now())
        return name

    def tag(self, name: str) -> str:
        if name not in self.tags:
            raise not_found()
        return name

    def delete_tag(self, name: str) -> None:
        """A deleted tag comes off every droplet that had it."""
        self.tag(name)
        del self.tags[name]
        for droplet in self.droplets.values():
            if name in droplet.tags:
                droplet.tags.remove(name)

    def tag_resources(self, name: str) -> dict[str, Any]:
        tagged = [d for d in self.droplets.values() if name in d.tags]
        return {"count": len(tagged), "droplets": {"count": len(tagged)},
                "images": {"count": 0}, "volumes": {"count": 0},
                "volume_snapshots": {"count": 0}, "databases": {"count": 0}}

    # ------------------------------------------------------------------ droplets
    def create_droplet(self, body: dict[str, Any]) -> tuple[DropletRec, ActionRec]:
        name = body.get("name")
        if "names" in body:
            raise unprocessable("ibdesk's sandbox creates one droplet per request")
        if not isinstance(name, str) or not re.fullmatch(
                r"[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]", name) or len(name) > 255:
            raise unprocessable(
                "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        region = catalogue.region(str(body.get("region") or "nyc1"))
        if region is None or not region["available"]:
            raise unprocessable("Region is not available")
        size = catalogue.size(str(body.get("size")))
        if size is None:
            raise unprocessable("You specified an invalid size for Droplet creation.")
        if region["slug"] not in size["regions"]:
            raise unprocessable("Size is not available in this region.")
        try:
            image = self.image(body.get("image", ""))
        except APIError:
            raise unprocessable("You specified an invalid image for Droplet creation.") from None
        if region["slug"] not in image["regions"]:
            raise unprocessable("You specified an invalid image for Droplet creation.")
        if int(image.get("min_disk_size") or 0) > int(size["disk"]):
            # DigitalOcean refuses this with a 422; its control panel words it "The size
            # (25GB) does not have enough disk space to support the image you selected."
            raise unprocessable(
                f"The size {size['slug']} ({size['disk']} GB disk) does not have enough disk "
                f"space to support the image you selected (it needs "
                f"{image['min_disk_size']} GB).")
        user_data = body.get("user_data")
        if user_data is not None and (not isinstance(user_data, str)
                                      or len(user_data.encode()) > 64 * 1024):
            raise unprocessable("user_data must be plain text of at most 64 KiB")
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise unprocessable("tags must be an array of strings")
        for tag in tags:
            self.create_tag(tag)
        keys = []
        for ref in body.get("ssh_keys") or []:
            try:
                keys.append(self.ssh_key(ref).public_key)
            except APIError:
                raise unprocessable("You specified an invalid SSH key for Droplet "
                                    "creation.") from None
        if len(self.droplets) >= self.config.droplet_limit:
            raise unprocessable("creating this/these droplet(s) will exceed your droplet limit")
        now = self.now()
        number = self._new_id("ip")
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        droplet = DropletRec(
            id=self._new_id("droplet"), name=name, region=region["slug"],
            size=size["slug"], image=image, tags=list(dict.fromkeys(tags)),
            ssh_public_keys=keys, user_data=user_data, monitoring=bool(body.get("monitoring")),
            vpc_uuid=str(uuid.UUID(int=self.random.getrandbits(128))), created_at=now,
            active_at=now + self.config.boot_seconds,
            ipv4=f"198.18.{number // 250}.{number % 250 + 2}",
            private_ipv4=f"10.108.{number // 250}.{number % 250 + 2}",
            host_key=host_key.export_private_key().decode())
        self.droplets[droplet.id] = droplet
        action = ActionRec(self._new_id("action"), "create", droplet.id, droplet.region, now,
                           droplet.active_at)
        self.actions[action.id] = action
        return droplet, action

    def droplet(self, droplet_id: int) -> DropletRec:
        droplet = self.droplets.get(droplet_id)
        if droplet is None:
            raise not_found()
        return droplet

    def destroy_droplet(self, droplet_id: int) -> None:
        self.droplet(droplet_id)
        del self.droplets[droplet_id]
        self._booted.discard(droplet_id)
        for firewall in self.firewalls.values():
            if droplet_id in firewall.droplet_ids:
                firewall.droplet_ids.remove(droplet_id)
        self.events.append((HostEvent.DESTROYED, droplet_id))

    def destroy_by_tag(self, tag: str) -> int:
        doomed = [d.id for d in self.droplets.values() if tag in d.tags]
        for droplet_id in doomed:
            self.destroy_droplet(droplet_id)
        return len(doomed)

    def droplet_action(self, droplet_id: int, action_type: Any) -> ActionRec:
        droplet = self.droplet(droplet_id)
        allowed = {"power_on", "power_off", "shutdown", "reboot", "power_cycle"}
        if action_type not in allowed:
            raise unprocessable(f"{action_type} is not a supported action type here")
        if self.droplet_status(droplet) == "new" or self.droplet_locked(droplet):
            raise unprocessable("Droplet already has a pending event.")
        now = self.now()
        outcome = "completed"
        pending_failures = self.faults.fail_actions.get(action_type, 0)
        if pending_failures > 0:
            self.faults.fail_actions[action_type] = pending_failures - 1
            outcome = "errored"
        action = ActionRec(self._new_id("action"), action_type, droplet.id, droplet.region,
                           now, now + self.config.action_seconds, outcome)
        self.actions[action.id] = action
        return action

    def action(self, action_id: int) -> ActionRec:
        action = self.actions.get(action_id)
        if action is None:
            raise not_found()
        return action

    def vanish(self, droplet_id: int) -> None:
        """A droplet deleted outside ibdesk (the control panel, another tool)."""
        self.destroy_droplet(droplet_id)

    # ------------------------------------------------------------------ firewalls
    def _firewall_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9.\-]+", name):
            raise APIError(400, "bad_request",
                           "name must begin with an alphanumeric character and contain only "
                           "alphanumerics, periods and dashes")
        for rule in body.get("inbound_rules") or []:
            if rule.get("protocol") not in ("tcp", "udp", "icmp") or "sources" not in rule:
                raise APIError(400, "bad_request", "each inbound rule needs protocol, ports "
                                                   "and sources")
        for rule in body.get("outbound_rules") or []:
            if rule.get("protocol") not in ("tcp", "udp", "icmp") or "destinations" not in rule:
                raise APIError(400, "bad_request", "each outbound rule needs protocol, ports "
                                                   "and destinations")
        droplet_ids = [int(i) for i in body.get("droplet_ids") or []]
        for droplet_id in droplet_ids:
            self.droplet(droplet_id)
        return {"name": name, "droplet_ids": droplet_ids, "tags": list(body.get("tags") or []),
                "inbound_rules": list(body.get("inbound_rules") or []),
                "outbound_rules": list(body.get("outbound_rules") or [])}

    def create_firewall(self, body: dict[str, Any]) -> FirewallRec:
        fields = self._firewall_fields(body)
        for tag in fields["tags"]:
            self.create_tag(tag)
        rec = FirewallRec(id=str(uuid.UUID(int=self.random.getrandbits(128))),
                          created_at=self.now(), **fields)
        self.firewalls[rec.id] = rec
        return rec

    def firewall(self, firewall_id: str) -> FirewallRec:
        rec = self.firewalls.get(firewall_id)
        if rec is None:
            raise not_found()
        return rec

    def update_firewall(self, firewall_id: str, body: dict[str, Any]) -> FirewallRec:
        rec = self.firewall(firewall_id)
        for key, value in self._firewall_fields(body).items():
            setattr(rec, key, value)
        return rec

    def delete_firewall(self, firewall_id: str) -> None:
        del self.firewalls[self.firewall(firewall_id).id]

    def change_firewall_droplets(self, firewall_id: str, droplet_ids: list[Any], *,
                                 add: bool) -> None:
        """`POST|DELETE /v2/firewalls/{id}/droplets`: every id must be a droplet."""
        rec = self.firewall(firewall_id)
        ids = [int(i) for i in droplet_ids]
        for droplet_id in ids:
            self.droplet(droplet_id)
        if add:
            rec.droplet_ids = list(dict.fromkeys(rec.droplet_ids + ids))
        else:
            rec.droplet_ids = [i for i in rec.droplet_ids if i not in ids]

    def change_firewall_tags(self, firewall_id: str, tags: list[Any], *, add: bool) -> None:
        """`POST|DELETE /v2/firewalls/{id}/tags`: a tag added is created if it is new."""
        rec = self.firewall(firewall_id)
        if add:
            for tag in tags:
                self.create_tag(tag)
            rec.tags = list(dict.fromkeys(rec.tags + tags))
        else:
            rec.tags = [t for t in rec.tags if t not in tags]

    def change_firewall_rules(self, firewall_id: str, body: dict[str, Any], *,
                              add: bool) -> None:
        """`POST|DELETE /v2/firewalls/{id}/rules` (firewalls_add_rules.yml,
        firewalls_delete_rules.yml): only the rules given change; everything else (other
        rules, tags, droplets) stays. A rule with the protocol and ports of an existing one
        merges into it (its sources are added, or taken away; a rule left with no source
        goes), as DigitalOcean's control panel shows them: one rule per protocol and ports.
        (The merging is the sandbox's reading; the spec does not say.)"""
        rec = self.firewall(firewall_id)
        rules = body.get("inbound_rules") or []
        if not rules and not body.get("outbound_rules"):
            raise APIError(400, "bad_request", "give inbound_rules and/or outbound_rules")
        for rule in rules:
            if rule.get("protocol") not in ("tcp", "udp", "icmp") or "sources" not in rule:
                raise APIError(400, "bad_request", "each inbound rule needs protocol, ports "
                                                   "and sources")
            same = next((r for r in rec.inbound_rules if r.get("protocol") == rule["protocol"]
                         and r.get("ports") == rule.get("ports")), None)
            given = list((rule.get("sources") or {}).get("addresses") or [])
            if add:
                if same is None:
                    rec.inbound_rules.append({"protocol": rule["protocol"],
                                              "ports": rule.get("ports"),
                                              "sources": {"addresses": given}})
                else:
                    sources = same.setdefault("sources", {})
                    sources["addresses"] = list(dict.fromkeys(
                        [*(sources.get("addresses") or []), *given]))
            elif same is not None:
                sources = same.setdefault("sources", {})
                sources["addresses"] = [a for a in sources.get("addresses") or []
                                        if a not in given]
                if not any(sources.values()):
                    rec.inbound_rules.remove(same)

    def ssh_allowed(self, droplet: DropletRec, source_ip: str) -> bool:
        """Do the cloud firewalls on this droplet admit SSH from `source_ip`?"""
        applied = [f for f in self.firewalls.values()
                   if droplet.id in f.droplet_ids or set(f.tags) & set(droplet.tags)]
        if not applied:
            return True  # DigitalOcean: no cloud firewall, nothing filtered
        address = ipaddress.ip_address(source_ip)
        for firewall in applied:
            for rule in firewall.inbound_rules:
                if rule.get("protocol") != "tcp" or not _port_in(rule.get("ports", ""), 22):
                    continue
                for source in (rule.get("sources") or {}).get("addresses") or []:
                    try:
                        if address in ipaddress.ip_network(source, strict=False):
                            return True
                    except ValueError:
                        continue
        return False

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> str:
        return json.dumps({
            "version": 1, "clock_offset": self.clock.offset, "uuid": self.account_uuid,
            "next_id": self.next_id, "tags": self.tags,
            "ssh_keys": [asdict(k) for k in self.ssh_keys.values()],
            "droplets": [asdict(d) for d in self.droplets.values()],
            "actions": [asdict(a) for a in self.actions.values()],
            "firewalls": [asdict(f) for f in self.firewalls.values()],
        }, indent=1)

    def load_json(self, text: str) -> None:
        data = json.loads(text)
        if data.get("version") != 1:
            raise ValueError("unknown sandbox state version")
        self.clock.offset = float(data.get("clock_offset", 0.0))
        self.account_uuid = data["uuid"]
        self.next_id.update(data["next_id"])
        self.tags = dict(data["tags"])
        self.ssh_keys = {k["id"]: SSHKeyRec(**k) for k in data["ssh_keys"]}
        self.droplets = {d["id"]: DropletRec(**d) for d in data["droplets"]}
        self.actions = {a["id"]: ActionRec(**a) for a in data["actions"]}
        self.firewalls = {f["id"]: FirewallRec(**f) for f in data["firewalls"]}
        self._booted.clear()

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)


def _port_in(spec: str, port: int) -> bool:
    if spec in ("0", "all", ""):
        return True
    low, _, high = str(spec).partition("-")
    try:
        return int(low) <= port <= int(high or low)
    except ValueError:
        return False


__all__ = ["APIError", "ActionRec", "Config", "DropletRec", "Faults", "FirewallRec",
           "SSHKeyRec", "SimClock", "World", "iso", "not_found", "unprocessable"]
