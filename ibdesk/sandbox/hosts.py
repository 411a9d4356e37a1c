"""A simulated droplet as the app meets it over SSH.

Each active droplet gets an asyncssh server on 127.0.0.1 with its own host key. It
accepts `root` with the public keys registered through the API and named at create,
nothing else; it honours the sandbox's cloud firewalls (SSH from the workstation's
address must be admitted); it serves SFTP chrooted to a folder that stands for the
droplet's disk, so file modes are real; it runs the handful of fixed commands the
provisioner and support tools use; and it forwards `direct-tcpip` channels for
127.0.0.1:5000/5001 to the simulated IBeam, refusing them when IBeam is not listening.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import ssl
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.forward import SSHForwarder

from ibdesk.domain.ibeam import (
    CLOCK_COMMAND,
    CLOUD_INIT_MARKER,
    CLOUD_INIT_WAIT_COMMAND,
    CONF_DIR,
    CONTAINER_STATE_COMMAND,
    ENV_FILE,
    GATEWAY_PORT,
    HEALTH_PORT,
    OUTPUTS_DIR,
    SEED_ENV_FILE,
    SEED_STARTER_COMMAND,
    START_COMMAND,
    STATUS_COMMAND,
    STOP_COMMAND,
)
from ibdesk.sandbox import catalogue
from ibdesk.sandbox.ibeam import IBeamTiming, SimIBeam, UserBook
from ibdesk.sandbox.world import DropletRec, World

log = logging.getLogger(__name__)

_DOCKER_LOGS = re.compile(r"^docker logs (?:--tail[ =](\d+) )?ibeam$")
_DOCKER_STATE = CONTAINER_STATE_COMMAND

SEED_ENV_TEMPLATE = """\
IBEAM_ACCOUNT=
IBEAM_PASSWORD=
IBEAM_GATEWAY_BASE_URL=https://localhost:5000
"""
SEED_STARTER = """\
#!/bin/bash
docker run -d --restart=no --name ibeam --env-file /root/ibeam_files/env.list \\
  -p 127.0.0.1:5000:5000 -p 127.0.0.1:5001:5001 voyz/ibeam:latest
"""


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
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == "root" and key.public_data in self._host.authorized_keys()

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int) -> Any:
        if dest_host not in ("127.0.0.1", "localhost") or \
                dest_port not in (GATEWAY_PORT, HEALTH_PORT):
            return False
        if not self._host.ibeam.listening(dest_port):
            return False
        return self._host.bridge(dest_port)


class SimulatedHost:
    """One droplet's SSH server, disk folder and IBeam."""

    def __init__(self, world: World, droplet: DropletRec, root: Path, users: UserBook,
                 timing: IBeamTiming, tls: ssl.SSLContext) -> None:
        self.world = world
        self.droplet = droplet
        self.root = root
        self.tls = tls
        self.ibeam = SimIBeam(root, users, world.now, timing)
        self.clock_skew = 0.0
        """Seconds the droplet's clock is off (a fault: TOTP codes need a right clock)."""
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.commands: list[str] = []
        self._accepts: set[asyncio.Future[Any]] = set()
        self._listener: asyncssh.SSHAcceptor | None = None
        self.ssh_port = 0

    @property
    def enabled(self) -> bool:
        """IBeam was started by the provisioner: systemd starts it again after a boot."""
        return self.droplet.ibeam_enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.droplet.ibeam_enabled = value

    # ------------------------------------------------------------------ power
    async def start(self, *, resumed: bool = False) -> None:
        for folder in ("root", "etc", "tmp", "srv", CONF_DIR.lstrip("/"),
                       OUTPUTS_DIR.lstrip("/")):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        if self.is_seed_image:
            seed = self.root / "root" / "ibeam_files"
            seed.mkdir(parents=True, exist_ok=True)
            env = seed / "env.list"
            if not env.exists():
                env.write_text(SEED_ENV_TEMPLATE)
            starter = self.root / "root" / "starter.sh"
            if not starter.exists():
                starter.write_text(SEED_STARTER)
                starter.chmod(0o755)
        key = asyncssh.import_private_key(self.droplet.host_key)
        self._listener = await asyncssh.listen(
            host="127.0.0.1", port=self.ssh_port, server_host_keys=[key],
            server_factory=lambda: _HostServer(self),
            process_factory=self._run, encoding="utf-8",
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(self.root)),
            allow_scp=False, login_timeout=30, keepalive_interval=0)
        self.ssh_port = self._listener.sockets[0].getsockname()[1]
        if self.enabled:
            self._start_ibeam()
            if resumed:
                self.ibeam.resume_session()

    async def stop(self) -> None:
        self.ibeam.stop("Stopping IBeam (the server is shutting down)")
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        for conn in list(self.connections):
            conn.close()
        self.connections.clear()

    async def destroy(self) -> None:
        await self.stop()
        await self.ibeam.close()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._listener is not None

    # ------------------------------------------------------------------ access
    @property
    def is_seed_image(self) -> bool:
        return self.droplet.image.get("id") == catalogue.SEED_IMAGE_ID

    @property
    def has_ibeam_unit(self) -> bool:
        return CLOUD_INIT_MARKER in (self.droplet.user_data or "")

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

    def read_file(self, path: str) -> tuple[bytes, int]:
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root.resolve()) or not target.is_file():
            raise FileNotFoundError(path)
        return target.read_bytes(), target.stat().st_mode & 0o777

    def describe(self) -> dict[str, Any]:
        return {"droplet_id": self.droplet.id, "ip": self.droplet.ipv4,
                "ssh_port": self.ssh_port, "running": self.running, "enabled": self.enabled,
                "commands": list(self.commands), "ibeam": self.ibeam.describe(),
                "log_tail": list(self.ibeam.stdout)[-50:]}

    async def bridge(self, port: int) -> SSHForwarder:
        """Connect a forwarded channel to the in-process IBeam server for `port`."""
        loop = asyncio.get_running_loop()
        server_end, channel_end = socket.socketpair()
        if port == GATEWAY_PORT:
            accept = loop.connect_accepted_socket(self.ibeam.gateway_server, server_end,
                                                  ssl=self.tls)
        else:
            accept = loop.connect_accepted_socket(self.ibeam.health_server, server_end)
        # Not awaited here: a TLS server side only returns after its handshake, which
        # needs the client's bytes that flow once this channel is open.
        task = asyncio.ensure_future(accept)
        self._accepts.add(task)
        task.add_done_callback(self._accepts.discard)
        _, peer = await loop.create_connection(SSHForwarder, sock=channel_end)
        return SSHForwarder(peer)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ commands
    def _start_ibeam(self) -> str | None:
        env = SEED_ENV_FILE if self.is_seed_image and not self.has_ibeam_unit else ENV_FILE
        return self.ibeam.start(env)

    async def _run(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = (process.command or "").strip()
        self.commands.append(command)
        out, err, code = self.execute(command)
        if out:
            process.stdout.write(out)
        if err:
            process.stderr.write(err)
        process.exit(code)

    def execute(self, command: str) -> tuple[str, str, int]:
        """(stdout, stderr, exit code) of one of the commands a droplet knows."""
        if not command:
            return "", "This sandbox host runs single commands, not shells.\n", 1
        if command == "true":
            return "", "", 0
        if command == CLOCK_COMMAND:
            return f"{int(self.world.now() + self.clock_skew)}\n", "", 0
        if command == CLOUD_INIT_WAIT_COMMAND:
            return "\nstatus: done\n", "", 0
        if command in (START_COMMAND, STOP_COMMAND, STATUS_COMMAND) and not self.has_ibeam_unit:
            return "", "Failed to run: Unit ibeam.service not found.\n", 5
        if command == START_COMMAND:
            return self._start_command()
        if command == SEED_STARTER_COMMAND and self.is_seed_image:
            return self._start_command()
        if command == STOP_COMMAND:
            self.enabled = False
            self.ibeam.stop()
            return "", "", 0
        if command == STATUS_COMMAND:
            self.ibeam.advance()
            state = {"running": "active", "shutdown": "failed"}.get(self.ibeam.state,
                                                                    "inactive")
            return f"{state}\n", "", 0 if state == "active" else 3
        if command == _DOCKER_STATE:
            self.ibeam.advance()
            state = {"running": "running", "shutdown": "exited"}.get(self.ibeam.state)
            if state is None:
                return "", "Error: No such object: ibeam\n", 1
            return f"{state}\n", "", 0
        match = _DOCKER_LOGS.match(command)
        if match:
            self.ibeam.advance()
            lines = list(self.ibeam.stdout)
            if match.group(1):
                lines = lines[-int(match.group(1)):] if int(match.group(1)) else []
            return "".join(line + "\n" for line in lines), "", 0
        name = command.split()[0]
        return "", f"bash: line 1: {name}: command not found\n", 127

    def _start_command(self) -> tuple[str, str, int]:
        problem = self._start_ibeam()
        if problem:
            return "", f"ibeam: {problem}\n", 1
        self.enabled = True
        return "", "", 0


def make_root(base: Path, droplet_id: int) -> Path:
    root = base / str(droplet_id)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    return root


__all__ = ["SimulatedHost", "make_root"]
