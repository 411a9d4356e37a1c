"""A simulated droplet as the app meets it over SSH.

Each active droplet gets an asyncssh server on 127.0.0.1 with its own host key. It
accepts `root` with the public keys registered through the API and named at create,
nothing else; it honours the sandbox's cloud firewalls (SSH from the workstation's
address must be admitted), and the Docker 1-Click's `ufw limit ssh` on droplets made
from it. Behind it is a small Linux: a disk folder with owners (`Disk`, served over
SFTP), cloud-init carrying out the droplet's user_data on its first boot (`FirstBoot`),
systemd units read from that disk (`Systemd`) and Docker running what they say
(`Docker`), with the light simulated IBeam or the real one as the container's process.

Over SSH it runs the fixed commands of `ibdesk.domain.ibeam` and nothing else, and it
forwards `direct-tcpip` channels for 127.0.0.1:PORT to whatever container publishes
PORT on the droplet's loopback, refusing them when none does.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import shutil
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
from asyncssh.forward import SSHForwarder

from ibdesk.domain.ibeam import (
    CLOCK_COMMAND,
    CONTAINER_STATE_COMMAND,
    SEED_ENV_FILE,
    SEED_STARTER_COMMAND,
)
from ibdesk.sandbox import catalogue
from ibdesk.sandbox.disk import Disk
from ibdesk.sandbox.docker import Container, Docker, DockerError, find_run_lines, parse_run
from ibdesk.sandbox.firstboot import FirstBoot
from ibdesk.sandbox.ibeam import GatewayFaults, HostContext, IBeamTiming, LightIBeam
from ibdesk.sandbox.ibkr import IBKR
from ibdesk.sandbox.netdelay import DelayedPort
from ibdesk.sandbox.sftp import DiskSFTPServer
from ibdesk.sandbox.systemd import Systemd, UnitNotFound
from ibdesk.sandbox.world import DropletRec, World

log = logging.getLogger(__name__)

_DOCKER_LOGS = re.compile(r"^docker logs (?:--tail[ =](\d+) )?ibeam( 2>&1)?$")
_SYSTEMCTL = re.compile(r"^systemctl (start|restart|stop|is-active|enable|disable) "
                        r"(ibeam(?:\.service)?)$")
_CLOUD_INIT = re.compile(r"^cloud-init status((?: --wait| --long)*)$")
UFW_LIMIT = (6, 30.0)
"""`ufw limit ssh`, as the Docker 1-Click turns it on: 6 new connections per 30 s."""

SEED_ENV_TEMPLATE = """\
IBEAM_ACCOUNT=
IBEAM_PASSWORD=
IBEAM_GATEWAY_BASE_URL=https://localhost:5000
"""
SEED_STARTER = """\
#!/bin/bash
docker rm -f ibeam
docker run -d --restart=no --name ibeam --env-file /root/ibeam_files/env.list \\
  -p 127.0.0.1:5000:5000 -p 127.0.0.1:5001:5001 voyz/ibeam:latest
"""
"""The seed snapshot's starter, as the seed's code describes it (the snapshot itself is
private to the seed's DigitalOcean account)."""

ProcessFactory = Callable[[Container, HostContext], Any]


class _HostServer(asyncssh.SSHServer):
    def __init__(self, host: SimulatedHost) -> None:
        self._host = host
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._host.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._host.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        if not self._host.firewall_admits():
            raise asyncssh.DisconnectError(asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT,
                                           "Connection blocked by the cloud firewall")
        if not self._host.ufw_admits():
            raise asyncssh.DisconnectError(asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT,
                                           "Connection refused by ufw (limit ssh)")
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == "root" and key.public_data in self._host.authorized_keys()

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int) -> Any:
        if dest_host not in ("127.0.0.1", "localhost"):
            return False
        container = self._host.docker.published(dest_port)
        if container is None or container.process is None:
            return False
        port = next(p.container_port for p in container.config.publish
                    if p.host_port == dest_port)
        return self._host.open_port(container, port)


_Bound = TypeVar("_Bound")


async def _kept_port(bind: Callable[[int], Awaitable[_Bound]], port: int) -> _Bound:
    """`bind(port)`: a rebooted droplet keeps its port when it can; when something else
    took it meanwhile (at a thousand droplets, another droplet's inner listener or an
    outgoing connection often does), a free one. Clients ask the port map every time."""
    if port:
        try:
            return await bind(port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            log.info("port %d was taken while its droplet was down; using another", port)
    return await bind(0)


class SimulatedHost:
    """One droplet's SSH server, disk and software."""

    def __init__(self, world: World, droplet: DropletRec, root: Path, ibkr: IBKR,
                 timing: IBeamTiming, tls: ssl.SSLContext, *,
                 process_factory: ProcessFactory | None = None,
                 image_env: dict[str, str] | None = None,
                 first_boot_seconds: float = 3.0, real_owners: bool | None = None,
                 rtt: float = 0.0) -> None:
        self.world = world
        self.droplet = droplet
        self.root = root
        self.disk = Disk(root, real_owners=real_owners)
        self.tls = tls
        self.ibkr = ibkr
        self.timing = timing
        self.faults = GatewayFaults()
        self.clock_skew = 0.0
        """Seconds the droplet's clock is off (a fault: TOTP codes need a right clock)."""
        self.context = HostContext(str(droplet.id), self.disk, ibkr, world.now,
                                   lambda: self.clock_skew, timing, self.faults, tls)
        factory = process_factory or (lambda container, context: LightIBeam(container,
                                                                            context))
        self.docker = Docker(self.disk, lambda c: factory(c, self.context), image_env)
        self.systemd = Systemd(self.disk, self.docker)
        self.first_boot = FirstBoot(self.disk, self.docker, self._systemctl_argv, world.now,
                                    first_boot_seconds)
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.commands: list[str] = []
        self._ssh_hits: deque[float] = deque()
        self._listener: asyncssh.SSHAcceptor | None = None
        self.rtt = rtt
        """Seconds of round trip between the workstation and this droplet (0: none)."""
        self._distance: DelayedPort | None = None
        self.ssh_port = 0

    # ------------------------------------------------------------------ the image
    @property
    def image(self) -> dict[str, Any]:
        return self.droplet.image

    @property
    def is_seed_image(self) -> bool:
        return self.image.get("id") == catalogue.SEED_IMAGE_ID

    @property
    def is_docker_one_click(self) -> bool:
        return self.image.get("slug") == catalogue.DOCKER_IMAGE_SLUG

    def _lay_down_image(self) -> None:
        """What the droplet's image holds before anything runs."""
        for folder in ("root", "etc", "tmp", "srv", "var/log", "var/lib"):
            if not self.disk.host(folder).exists():
                self.disk.mkdir(folder, 0o700 if folder == "root" else 0o755)
        os.chmod(self.disk.host("/tmp"), 0o1777)
        if (self.is_seed_image or self.is_docker_one_click) and not self.docker.installed:
            self.docker.install()
            self.docker.pull("voyz/ibeam:latest")
        if self.is_seed_image:
            env = self.disk.host(SEED_ENV_FILE)
            if not env.exists():
                self.disk.write(SEED_ENV_FILE, SEED_ENV_TEMPLATE.encode(), 0o600)
            if not self.disk.host(SEED_STARTER_COMMAND).exists():
                self.disk.write(SEED_STARTER_COMMAND, SEED_STARTER.encode(), 0o755)

    # ------------------------------------------------------------------ power
    async def start(self, *, resumed: bool = False, degraded_boot: bool = False) -> None:
        self._lay_down_image()
        if not self.first_boot.started:
            self.first_boot.begin(self.droplet.user_data, degraded=degraded_boot)
        key = asyncssh.import_private_key(self.droplet.host_key)

        def listen(port: int) -> Awaitable[asyncssh.SSHAcceptor]:
            return asyncssh.listen(
                host="127.0.0.1", port=port, server_host_keys=[key],
                server_factory=lambda: _HostServer(self),
                process_factory=self._run, encoding="utf-8",
                sftp_factory=lambda chan: DiskSFTPServer(chan, self.disk),
                allow_scp=False, login_timeout=30, keepalive_interval=0)

        if self.rtt:  # the workstation reaches the droplet through the network's delay
            self._listener = await listen(0)
            self._distance = DelayedPort(self._listener.sockets[0].getsockname()[1], self.rtt)
            self.ssh_port = await _kept_port(self._distance.start, self.ssh_port)
        else:
            self._listener = await _kept_port(listen, self.ssh_port)
            self.ssh_port = self._listener.sockets[0].getsockname()[1]
        await self.first_boot.advance()
        if self.docker.installed:
            await self.systemd.boot()
        if self.is_seed_image and self.droplet.ibeam_enabled:
            await self._seed_starter()  # the seed's IBeam comes back after a boot
        if resumed:
            ibeam = self.ibeam
            if isinstance(ibeam, LightIBeam):
                ibeam.resume_session()

    async def advance(self) -> None:
        await self.first_boot.advance()
        self.docker.advance()

    async def stop(self) -> None:
        await self.systemd.shutdown()
        await self.docker.stop_all()
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        for conn in list(self.connections):
            conn.close()
        self.connections.clear()
        if self._distance is not None:
            await self._distance.close()
            self._distance = None

    def go_silent(self, silent: bool = True) -> None:
        """The network between the workstation and the droplet drops everything without a
        word (a laptop asleep, a Wi-Fi change, a NAT that forgot the flow): the open SSH
        connections stay open on both ends, but nothing sent on them is read any more, so
        no close ever reaches the client — only its keepalive can notice. New connections
        still work (the network came back). `silent=False` reads them again."""
        for conn in list(self.connections):
            transport = getattr(conn, "_transport", None)
            if transport is not None:
                (transport.pause_reading if silent else transport.resume_reading)()

    async def destroy(self) -> None:
        await self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.with_name(self.root.name + ".owners.json").unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        return self._listener is not None

    # ------------------------------------------------------------------ access
    def authorized_keys(self) -> set[bytes]:
        found = set()
        for text in self.droplet.ssh_public_keys:
            try:
                found.add(asyncssh.import_public_key(text).public_data)
            except (asyncssh.KeyImportError, ValueError):
                continue
        return found

    def firewall_admits(self) -> bool:
        return self.world.ssh_allowed(self.droplet, self.world.config.workstation_ip)

    def ufw_admits(self) -> bool:
        if not self.is_docker_one_click:
            return True
        limit, window = UFW_LIMIT
        now = time.monotonic()
        while self._ssh_hits and self._ssh_hits[0] <= now - window:
            self._ssh_hits.popleft()
        if len(self._ssh_hits) >= limit:
            return False
        self._ssh_hits.append(now)
        return True

    def read_file(self, path: str) -> tuple[bytes, int]:
        target = self.disk.host(path)
        if not target.is_file():
            raise FileNotFoundError(path)
        return target.read_bytes(), target.stat().st_mode & 0o777

    @property
    def container(self) -> Container | None:
        return self.docker.containers.get("ibeam")

    @property
    def ibeam(self) -> Any:
        """The process of the `ibeam` container (light or real), None without one."""
        container = self.container
        return container.process if container is not None else None

    def set_gateway_faults(self, **faults: Any) -> dict[str, Any]:
        ibeam = self.ibeam
        if isinstance(ibeam, LightIBeam):
            return ibeam.set_faults(**faults)
        known = set(vars(self.faults)) | {"session_reset"}
        unknown = set(faults) - known
        if unknown:
            raise ValueError(f"unknown gateway faults: {sorted(unknown)}")
        for name, value in faults.items():
            if name != "session_reset" and value is not None:
                current = getattr(self.faults, name)
                setattr(self.faults, name, type(current)(value))
        return dict(vars(self.faults))

    def describe(self) -> dict[str, Any]:
        container = self.container
        ibeam = self.ibeam
        state = ibeam.describe() if ibeam is not None else {"state": "absent"}
        lines = list(container.logs)[-50:] if container is not None else []
        boot, boot_code = self.first_boot.status(long=False)
        return {"droplet_id": self.droplet.id, "ip": self.droplet.ipv4,
                "ssh_port": self.ssh_port, "running": self.running,
                "enabled": self.systemd.enabled("ibeam"),
                "unit": self.systemd.is_active("ibeam"),
                "container": None if container is None else {
                    "state": container.state, "exit_code": container.exit_code,
                    "image": container.spec.image, "user": list(container.config.user),
                    "remove": container.spec.remove},
                "first_boot": boot.strip().removeprefix("status: "),
                "first_boot_code": boot_code, "docker_installed": self.docker.installed,
                "commands": list(self.commands), "ibeam": state,
                "log_tail": [line.text for line in lines]}

    async def open_port(self, container: Container, port: int) -> SSHForwarder | None:
        assert container.process is not None
        forwarder = await container.process.connect(port)
        if forwarder is None:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED,
                                            "Connection refused")
        return forwarder

    # ------------------------------------------------------------------ commands
    async def _run(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = (process.command or "").strip()
        self.commands.append(command)
        out, err, code = await self.execute(command)
        if out:
            process.stdout.write(out)
        if err:
            process.stderr.write(err)
        process.exit(code)

    async def execute(self, command: str) -> tuple[str, str, int]:
        """(stdout, stderr, exit code) of one of the commands a droplet knows."""
        await self.advance()
        if not command:
            return "", "This sandbox host runs single commands, not shells.\n", 1
        if command == "true":
            return "", "", 0
        if command == CLOCK_COMMAND:
            return f"{int(self.world.now() + self.clock_skew)}\n", "", 0
        match = _CLOUD_INIT.match(command)
        if match:
            flags = match.group(1).split()
            if "--wait" in flags:
                while not self.first_boot.done:
                    await asyncio.sleep(0.05)
                    await self.first_boot.advance()
            text, code = self.first_boot.status(long="--long" in flags)
            return ("\n" if "--wait" in flags else "") + text, "", code
        match = _SYSTEMCTL.match(command)
        if match:
            code, text = await self._systemctl_argv([match.group(1), match.group(2)])
            if match.group(1) == "is-active":
                return text, "", code
            return "", text, code
        if command == CONTAINER_STATE_COMMAND:
            try:
                return f"{self.docker.inspect_status('ibeam')}\n", "", 0
            except DockerError:
                return "", "Error: No such object: ibeam\n", 1
        match = _DOCKER_LOGS.match(command)
        if match:
            try:
                out, err = self.docker.log_output(
                    "ibeam", int(match.group(1)) if match.group(1) else None,
                    merged=bool(match.group(2)))
            except DockerError as exc:
                return "", f"{exc}\n", 1
            return out, err, 0
        if command == "docker stop ibeam":
            try:
                await self.docker.stop("ibeam")
            except DockerError as exc:
                return "", f"{exc}\n", 1
            return "ibeam\n", "", 0
        if command == SEED_STARTER_COMMAND and self.is_seed_image:
            return await self._seed_starter()
        name = command.split()[0]
        return "", f"bash: line 1: {name}: command not found\n", 127

    async def _systemctl_argv(self, argv: list[str]) -> tuple[int, str]:
        """`systemctl VERB UNIT` → (exit code, output); `is-active` answers on stdout."""
        if not argv:
            return 1, "Too few arguments.\n"
        verb, *rest = argv
        if verb == "daemon-reload":
            return 0, ""
        unit = next((a for a in rest if not a.startswith("-")), "")
        if verb == "is-active":
            state = self.systemd.is_active(unit)
            return (0 if state == "active" else 3), f"{state}\n"
        try:
            if verb == "enable":
                text = self.systemd.enable(unit)
                if "--now" in rest:
                    code, err = await self.systemd.start(unit)
                    return code, text + err
                return 0, text
            if verb == "disable":
                return 0, self.systemd.disable(unit)
        except UnitNotFound:
            return 1, f"Failed to {verb} unit: Unit file {self.systemd.full(unit)} does not " \
                      "exist.\n"
        if verb == "start":
            return await self.systemd.start(unit)
        if verb == "restart":
            return await self.systemd.restart(unit)
        if verb == "stop":
            return await self.systemd.stop(unit)
        return 1, f"Unknown command verb {verb}.\n"

    async def _seed_starter(self) -> tuple[str, str, int]:
        """Run the seed image's /root/starter.sh: its docker lines, as Docker would."""
        text = self.disk.host(SEED_STARTER_COMMAND).read_text()
        out = ""
        for argv in find_run_lines(text):
            argv = [a for a in argv if ">" not in a]
            try:
                if argv[1:2] == ["rm"]:
                    await self.docker.remove(argv[-1], force="-f" in argv)
                elif argv[1:2] == ["run"]:
                    container = await self.docker.run(parse_run(argv[2:]))
                    out += f"{container.name}\n"
            except DockerError as exc:
                if argv[1:2] == ["run"]:
                    return out, f"{exc}\n", exc.code
        self.droplet.ibeam_enabled = True
        return out, "", 0


def make_root(base: Path, droplet_id: int) -> Path:
    root = base / str(droplet_id)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    return root


__all__ = ["SimulatedHost", "make_root"]
