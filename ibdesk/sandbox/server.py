"""The whole sandbox in one object: fake API, simulated hosts and IBeams, on loopback.

`async with Sandbox(SandboxOptions()) as sandbox:` starts it on free ports in the running
event loop (the window's qasync loop, a test's loop, or `ibdesk sandbox serve`'s).
With `state` set, the world is saved to that JSON file (and each droplet's disk to a
folder beside it) and loaded again on the next start, so droplets outlive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ibdesk.oslimits import raise_file_limit
from ibdesk.sandbox.api import ADMIN, build_app
from ibdesk.sandbox.hosts import SimulatedHost, make_root
from ibdesk.sandbox.ibeam import HealthServer, IBeamTiming
from ibdesk.sandbox.ibkr import IBKR, IBKRService, IBKRUser, UserBook
from ibdesk.sandbox.realibeam import (
    IBeamInstall,
    RealIBeam,
    RealRuntime,
    check_machine,
    default_home,
)
from ibdesk.sandbox.world import APIError, Config, HostEvent, SimClock, World

log = logging.getLogger(__name__)

DEMO_USER = IBKRUser(username="sandboxdemo", password="sandbox-demo-pass")
"""The IBKR login the sandbox accepts when no users file is given (shown to the person)."""


@dataclass
class SandboxOptions:
    port: int = 0
    token: str | None = None
    boot_seconds: float = 5.0
    action_seconds: float = 2.0
    latency_ms: float = 0.0
    """Added to every DigitalOcean API request."""
    droplet_rtt_ms: float = 0.0
    """Round trip added in front of every droplet's SSH port (the network's distance)."""
    health_server: HealthServer = HealthServer.HTTP10
    """IBeam's own HTTP/1.0 health server, or a keep-alive one (the benchmark's
    comparison)."""
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    droplet_limit: int = 25
    ibkr_users: Path | None = None
    users: list[IBKRUser] = field(default_factory=list)
    state: Path | None = None
    with_seed_image: bool = False
    login_seconds: float = 3.0
    maintenance_seconds: float = 60.0
    reset_hour_utc: int = 5
    workstation_ip: str = "203.0.113.10"
    rate_limit_per_minute: int = 250
    rate_limit_per_hour: int = 5000
    tick_seconds: float = 0.25
    read_only_tokens: list[str] = field(default_factory=list)
    withdrawn_images: list[str] = field(default_factory=list)
    first_boot_seconds: float = 3.0
    """How long cloud-init's first boot takes (installing Docker and pulling IBeam)."""
    real_ibeam: bool = False
    """Run IBeam 0.5.12's own code with headless Chromium as each droplet's container
    (root only), instead of the light simulated IBeam."""
    ibeam_home: Path | None = None
    """The venv holding `ibeam==0.5.12` for `real_ibeam` (made when missing)."""
    real_owners: bool | None = None
    """Droplet files get real owners (`os.chown`): by default when running as root. Off,
    owners are kept in a table, as a sandbox run by a person's own account must."""


def _self_signed(folder: Path) -> ssl.SSLContext:
    """The gateway's self-signed certificate, as IBKR's gateway ships one."""
    cert_file, key_file = folder / "gateway-cert.pem", folder / "gateway-key.pem"
    if not cert_file.exists() or not key_file.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .sign(key, hashes.SHA256()))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_file.chmod(0o600)
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class Sandbox:
    """A DigitalOcean account with IBeam droplets, all on 127.0.0.1."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        opts = self.options
        self.token = opts.token or f"dop_v1_sandbox_{secrets.token_hex(24)}"
        self.saved_revision = -1
        self.saves = 0
        """How many times the world was written (tests: only when it changed)."""
        users = list(opts.users)
        if opts.ibkr_users is not None:
            users += UserBook.load(opts.ibkr_users).users
        self.users = UserBook(users or [DEMO_USER])
        self.ibkr = IBKR(self.users)
        self.world = World(Config(
            tokens=[self.token], boot_seconds=opts.boot_seconds,
            action_seconds=opts.action_seconds, droplet_limit=opts.droplet_limit,
            with_seed_image=opts.with_seed_image, workstation_ip=opts.workstation_ip,
            rate_limit_per_minute=opts.rate_limit_per_minute,
            rate_limit_per_hour=opts.rate_limit_per_hour,
            read_only_tokens=list(opts.read_only_tokens),
            withdrawn_images=list(opts.withdrawn_images)), SimClock())
        self.world.config.tokens += list(opts.read_only_tokens)
        self.world.faults.latency_ms = opts.latency_ms
        self.world.faults.error_rate = opts.error_rate
        self.world.faults.timeout_rate = opts.timeout_rate
        self.timing = IBeamTiming(login_seconds=opts.login_seconds,
                                  maintenance_seconds=opts.maintenance_seconds,
                                  reset_hour_utc=opts.reset_hour_utc,
                                  health_server=opts.health_server)
        self.hosts: dict[int, SimulatedHost] = {}
        self.real: RealRuntime | None = None
        self._ibkr_service: IBKRService | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._temp: Path | None = None
        self._sync_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def data_dir(self) -> Path:
        if self.options.state is not None:
            return self.options.state.with_name(self.options.state.name + ".d")
        if self._temp is None:
            self._temp = Path(tempfile.mkdtemp(prefix="ibdesk-sandbox-"))
        return self._temp

    async def start(self) -> Sandbox:
        raise_file_limit()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = self.options.state
        if state is not None and state.exists():
            self.world.load_json(state.read_text())
            self.world.config.tokens.append(self.token)
            saved_token = self.data_dir / "token"
            if saved_token.exists():
                self.world.config.tokens.append(saved_token.read_text().strip())
        if state is not None:
            token_file = self.data_dir / "token"
            if self.options.token is None and token_file.exists():
                self.token = token_file.read_text().strip()
            token_file.write_text(self.token)
            token_file.chmod(0o600)
        self.tls = _self_signed(self.data_dir)
        if self.options.real_ibeam:
            await self._start_real_ibeam()
        self._runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.options.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await self.sync_hosts()
        self._ticker = asyncio.create_task(self._tick_forever(), name="sandbox-ticker")
        return self

    async def _start_real_ibeam(self) -> None:
        check_machine()
        install = await asyncio.to_thread(
            IBeamInstall(self.options.ibeam_home or default_home()).ensure, say=log.warning)
        os.chmod(self.data_dir, 0o711)  # uid 1000 reaches the droplets' disks, as on one
        self.real = RealRuntime(install, self.data_dir / "gateway-cert.pem",
                                self.data_dir / "gateway-key.pem",
                                self.options.maintenance_seconds)
        self._ibkr_service = IBKRService(self.ibkr, self.real.ibkr_socket)
        await self._ibkr_service.start()

    def _new_host(self, droplet_id: int) -> SimulatedHost:
        droplet = self.world.droplets[droplet_id]
        real = self.real
        factory = (lambda container, context: RealIBeam(container, context, real)) \
            if real is not None else None
        return SimulatedHost(self.world, droplet, make_root(self.data_dir / "hosts", droplet_id),
                             self.ibkr, self.timing, self.tls, process_factory=factory,
                             image_env=real.image_env if real is not None else None,
                             first_boot_seconds=self.options.first_boot_seconds,
                             real_owners=self.options.real_owners,
                             rtt=self.options.droplet_rtt_ms / 1000)

    async def stop(self) -> None:
        self.stopping.set()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self.save()
        for host in list(self.hosts.values()):
            await host.stop()
        self.hosts.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._ibkr_service is not None:
            await self._ibkr_service.stop()
            self._ibkr_service = None
        if self.real is not None:
            self.real.close()
            self.real = None
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def save(self) -> None:
        if self.options.state is not None:
            self.world.save(self.options.state)
            self.saved_revision = self.world.revision
            self.saves += 1

    # ------------------------------------------------------------------ addresses
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ssh_map_url(self) -> str:
        """What IBDESK_SANDBOX_SSH_MAP_URL is set to: `{url}/{ip}` answers the SSH port."""
        return f"{self.api_url}{ADMIN}/ssh"

    @property
    def public_ip_url(self) -> str:
        return f"{self.api_url}{ADMIN}/ip"

    def host(self, droplet_id: int) -> SimulatedHost:
        host = self.hosts.get(droplet_id)
        if host is None:
            raise APIError(404, "not_found", "That droplet has no running host.")
        return host

    def host_by_ip(self, ip: str) -> SimulatedHost:
        for host in self.hosts.values():
            if host.droplet.ipv4 == ip:
                return host
        raise APIError(404, "not_found", f"No running droplet has the address {ip}.")

    # ------------------------------------------------------------------ time passing
    async def sync_hosts(self) -> None:
        """Start, stop and reboot simulated hosts as the world's events say."""
        async with self._sync_lock:
            world = self.world
            world.tick()
            if not self.hosts and world.droplets:  # after a restart: bring hosts back
                for kept in world.droplets.values():
                    if world.droplet_status(kept) == "active":
                        world.events.append((HostEvent.RESTORED, kept.id))
            while world.events:
                event, droplet_id = world.events.popleft()
                host = self.hosts.get(droplet_id)
                if event is HostEvent.DESTROYED:
                    if host is not None:
                        del self.hosts[droplet_id]
                        await host.destroy()
                    else:
                        shutil.rmtree(self.data_dir / "hosts" / str(droplet_id),
                                      ignore_errors=True)
                    continue
                droplet = world.droplets.get(droplet_id)
                if droplet is None:
                    continue
                if event.starts:
                    if host is None:
                        host = self._new_host(droplet_id)
                        self.hosts[droplet_id] = host
                    if host.running:
                        await host.stop()
                    if world.droplet_status(droplet) == "active":
                        # "restored": the sandbox process restarted, not the droplet;
                        # its IBeam kept its session meanwhile.
                        degraded = not host.first_boot.started and \
                            world.faults.cloud_init_degraded > 0
                        if degraded:
                            world.faults.cloud_init_degraded -= 1
                        await host.start(resumed=event is HostEvent.RESTORED,
                                         degraded_boot=degraded)
                elif event is HostEvent.OFF and host is not None:
                    await host.stop()

    async def _tick_forever(self) -> None:
        saved_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.tick_seconds)
            try:
                await self.sync_hosts()
                for host in list(self.hosts.values()):
                    await host.advance()
                if loop.time() - saved_at > 2.0 and self.world.revision != self.saved_revision:
                    self.save()  # only what changed since the last save
                    saved_at = loop.time()
            except Exception:  # keep the sandbox alive; the error is logged
                log.exception("sandbox tick failed")


__all__ = ["DEMO_USER", "Sandbox", "SandboxOptions"]
