"""SSH to an account's droplet: the only way ibdesk reaches a server.

Why SSH for everything: IBeam's ports stay bound to 127.0.0.1 on the droplet (nothing
but SSH is open to the internet), secrets travel inside the encrypted channel and land
in root-only files via SFTP, and every probe or trader connection is a port forward.

* Host keys are pinned on first use: the first connection records the server's key
  (returned to the caller to store); every later one must present the same key or
  `HostKeyChanged` is raised and nothing is sent.
* Commands are fixed strings from `ibdesk.domain.ibeam`; `run` refuses anything else,
  so no secret or user input can ever reach a shell.
* Where SSH listens is the droplet's address, port 22. Only the sandbox sets
  `IBDESK_SANDBOX_SSH_MAP_URL`, through which a simulated droplet's port is looked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncssh
import httpx

from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import GatewayError, GatewayUnreachable

log = logging.getLogger(__name__)

ALLOWED_COMMANDS = frozenset({
    ib.START_COMMAND, ib.STOP_COMMAND, ib.DOCKER_STOP_COMMAND, ib.STATUS_COMMAND,
    ib.ENABLE_COMMAND, ib.DISABLE_COMMAND,
    ib.CLOUD_INIT_STATUS_COMMAND, ib.CLOCK_COMMAND, ib.SEED_STARTER_COMMAND, "true",
    ib.CONTAINER_STATE_COMMAND, *(ib.logs_command(n) for n in ib.LOG_TAIL_SIZES),
})


class HostKeyChanged(GatewayError):
    default_message = (
        "The server's SSH identity changed since ibdesk first connected. This happens when "
        "a server is rebuilt, or when someone is intercepting the connection. ibdesk sent "
        "nothing. If you rebuilt the server yourself, delete the account in ibdesk and "
        "connect it again (a new server is pinned anew); otherwise send a support bundle.")


@functools.cache
def _map_tls() -> ssl.SSLContext:
    """Built once, on first use: the sandbox map is looked up per connection, and loading
    the CA bundle at import would cost every front end 100-200 ms."""
    return ssl.create_default_context()


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


async def resolve_endpoint(ip: str, *, sandbox_map_url: str | None, token: str | None,
                           timeout: float = 10.0) -> Endpoint:
    """Where the droplet at `ip` listens for SSH (port 22 outside the sandbox)."""
    if not sandbox_map_url:
        return Endpoint(ip, 22)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(timeout=timeout, verify=_map_tls()) as client:
            response = await client.get(f"{sandbox_map_url.rstrip('/')}/{ip}", headers=headers)
    except httpx.HTTPError as exc:
        raise GatewayUnreachable(f"The sandbox did not answer ({type(exc).__name__}).") from None
    if response.status_code != 200:
        raise GatewayUnreachable(f"The server {ip} is not reachable over SSH (it is off or "
                                 "still starting).", ip=ip)
    data = response.json()
    return Endpoint(str(data["host"]), int(data["port"]))


class Remote:
    """One open SSH connection to a droplet."""

    def __init__(self, conn: asyncssh.SSHClientConnection, host_key: str) -> None:
        self._conn = conn
        self.host_key = host_key
        """The server's public host key (OpenSSH text), to be pinned by the caller."""

    async def run(self, command: str, *, timeout: float = 120.0) -> tuple[int, str, str]:
        if command not in ALLOWED_COMMANDS:
            raise ValueError(f"not one of ibdesk's fixed commands: {command!r}")
        try:
            result = await asyncio.wait_for(self._conn.run(command, check=False), timeout)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            raise GatewayUnreachable(
                f"The server stopped answering while running a command ({type(exc).__name__}).",
            ) from None
        return (result.exit_status if result.exit_status is not None else -1,
                str(result.stdout or ""), str(result.stderr or ""))

    async def write_files(self, files: dict[str, bytes], *, mode: int = ib.SECRET_FILE_MODE,
                          dir_mode: int = ib.SECRET_DIR_MODE,
                          owner: tuple[int, int] | None = None) -> None:
        """Write each file whole with `mode` from its creation (no moment with wider
        rights), then give it (and a folder made for it) to `owner` before it takes its
        name: IBeam's container user must be able to read its secret files."""
        try:
            async with self._conn.start_sftp_client() as sftp:
                for path, data in files.items():
                    folder = path.rsplit("/", 1)[0]
                    if folder and not await sftp.exists(folder):
                        await sftp.makedirs(folder, attrs=asyncssh.SFTPAttrs(
                            permissions=dir_mode))
                        if owner is not None:
                            await sftp.chown(folder, *owner)
                    temp = f"{path}.ibdesk-new"
                    async with sftp.open(temp, "wb", asyncssh.SFTPAttrs(permissions=mode)) as fh:
                        await fh.write(data)
                    await sftp.chmod(temp, mode)
                    if owner is not None:
                        await sftp.chown(temp, *owner)
                    await sftp.posix_rename(temp, path)
        except (asyncssh.Error, OSError) as exc:
            raise GatewayError(f"Could not write IBeam's settings on the server "
                               f"({type(exc).__name__}).") from None

    async def chown(self, path: str, uid: int, gid: int) -> None:
        try:
            async with self._conn.start_sftp_client() as sftp:
                await sftp.chown(path, uid, gid)
        except (asyncssh.Error, OSError) as exc:
            raise GatewayError(f"Could not give {path} to its user on the server "
                               f"({type(exc).__name__}).") from None

    async def read_file(self, path: str, limit: int = 1_000_000, *, tail: bool = False) -> bytes:
        """Up to `limit` bytes of a file: its start, or with `tail` its end."""
        try:
            async with self._conn.start_sftp_client() as sftp, sftp.open(path, "rb") as fh:
                if tail:
                    size = (await sftp.stat(path)).size or 0
                    await fh.seek(max(0, size - limit))
                data = await fh.read(limit)  # bytes: the file is opened in binary mode
                return data if isinstance(data, bytes) else data.encode()
        except (asyncssh.Error, OSError) as exc:
            raise GatewayError(f"Could not read {path} on the server "
                               f"({type(exc).__name__}).") from None

    async def list_dir(self, path: str) -> list[tuple[str, int, int]]:
        """(name, size, modified time) of the files in a folder; empty when it is missing."""
        try:
            async with self._conn.start_sftp_client() as sftp:
                if not await sftp.isdir(path):
                    return []
                entries = await sftp.readdir(path)
        except (asyncssh.Error, OSError) as exc:
            raise GatewayError(f"Could not list {path} on the server "
                               f"({type(exc).__name__}).") from None
        return sorted((_text(e.filename), int(e.attrs.size or 0), int(e.attrs.mtime or 0))
                      for e in entries if _text(e.filename) not in (".", "..")
                      and e.attrs.type != asyncssh.FILEXFER_TYPE_DIRECTORY)

    async def forward(self, remote_port: int, local_port: int = 0,
                      listen_host: str = "127.0.0.1") -> asyncssh.SSHListener:
        """Forward `listen_host:local_port` here to 127.0.0.1:`remote_port` on the droplet."""
        try:
            return await self._conn.forward_local_port(listen_host, local_port, "127.0.0.1",
                                                       remote_port)
        except OSError as exc:
            raise GatewayError(f"Could not listen on {listen_host}:{local_port} here "
                               f"({exc.strerror or type(exc).__name__}).") from None

    async def forward_counted(self, remote_port: int, local_port: int,
                              on_bytes: Callable[[int], None],
                              listen_host: str = "127.0.0.1") -> CountedForward:
        """Like `forward`, and every chunk's size is told to `on_bytes` (what idle shutdown
        counts: a tunnel that carried nothing for hours is a gateway nobody uses here)."""
        forward = CountedForward(self, remote_port, on_bytes)
        try:
            forward.server = await asyncio.start_server(forward.serve, listen_host,
                                                        local_port)
        except OSError as exc:
            raise GatewayError(f"Could not listen on {listen_host}:{local_port} here "
                               f"({exc.strerror or type(exc).__name__}).") from None
        return forward

    @property
    def closed(self) -> bool:
        """The SSH connection is gone (the server rebooted, the network changed): nothing
        more can be done on it; open a new one."""
        return self._conn.is_closed()

    async def open_channel(self, remote_port: int) -> tuple[asyncssh.SSHReader[bytes],
                                                            asyncssh.SSHWriter[bytes]]:
        if self.closed:
            raise GatewayUnreachable("The SSH connection to the server was lost.")
        try:
            return await self._conn.open_connection("127.0.0.1", remote_port, encoding=None)
        except asyncssh.ChannelOpenError as exc:
            raise GatewayUnreachable(
                f"Nothing answers on the server's port {remote_port} ({exc.reason}).") from None

    def close(self) -> None:
        self._conn.close()

    async def wait_closed(self) -> None:
        await self._conn.wait_closed()


ENCRYPTION = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
              "chacha20-poly1305@openssh.com", "aes256-ctr", "aes128-ctr")
"""AES-GCM first (asyncssh prefers ChaCha20-Poly1305, which it runs by building four
cipher objects for every packet; AES-GCM keeps one per key and uses the CPU's AES
instructions): the monitor sends and reads a dozen small packets per probe, and this
order took the monitor's CPU per probe from 1.94 to 1.22 ms at 100 accounts
(benchmarks/monitor.py, one run). OpenSSH offers all of them; each is an AEAD cipher
with a key of 128 bits or more."""
KEEPALIVE_INTERVAL = 15.0
KEEPALIVE_COUNT = 3
"""An SSH keepalive every 15 s; 3 unanswered close the connection. Without them, a
connection whose network went away silently (the workstation slept, the Wi-Fi changed)
looked alive for hours: a tunnel kept saying https://localhost:PORT while nothing
answered, and was never reopened."""


@asynccontextmanager
async def connect(endpoint: Endpoint, private_key: str, *, pinned_host_key: str | None,
                  timeout: float = 20.0) -> AsyncIterator[Remote]:
    """An SSH connection as root with the app's key, checking (or learning) the host key."""
    key = asyncssh.import_private_key(private_key)
    if pinned_host_key:
        trusted = asyncssh.import_known_hosts(
            f"[{endpoint.host}]:{endpoint.port} {pinned_host_key}\n"
            f"{endpoint.host} {pinned_host_key}\n")
        known_hosts: object = trusted
    else:
        known_hosts = None  # trust on first use; the caller pins what it saw
    try:
        conn = await asyncio.wait_for(asyncssh.connect(
            endpoint.host, endpoint.port, username="root", client_keys=[key],
            known_hosts=known_hosts, agent_path=None, password=None,
            preferred_auth="publickey", config=None, encryption_algs=list(ENCRYPTION),
            keepalive_interval=KEEPALIVE_INTERVAL, keepalive_count_max=KEEPALIVE_COUNT),
            timeout)
    except asyncssh.HostKeyNotVerifiable:
        raise HostKeyChanged(host=endpoint.host) from None
    except asyncssh.PermissionDenied:
        raise GatewayUnreachable(
            "The server refused ibdesk's SSH key. It was created with another key, or the key "
            "was removed from it.", host=endpoint.host) from None
    except asyncssh.DisconnectError as exc:
        raise GatewayUnreachable(
            f"The server closed the SSH connection: {exc.reason}. If a cloud firewall "
            "blocks this computer's address, let Diagnose update it.",
            host=endpoint.host) from None
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        raise GatewayUnreachable(
            f"The server does not answer on SSH ({type(exc).__name__}); it may still be "
            "starting, be off, or a firewall blocks this computer.", host=endpoint.host) from None
    seen = conn.get_server_host_key()
    host_key = seen.export_public_key().decode().strip() if seen is not None else ""
    remote = Remote(conn, host_key)
    try:
        yield remote
    finally:
        remote.close()


def _text(name: bytes | str) -> str:
    """A file name as SFTP gives it (str for a str path; bytes are decoded as the server's
    UTF-8, never failing on a stray byte)."""
    return name if isinstance(name, str) else name.decode("utf-8", "replace")


class CountedForward:
    """A local listener whose connections go over SSH channels, counting what they carry."""

    CHUNK = 65536

    def __init__(self, remote: Remote, remote_port: int, on_bytes: Callable[[int], None]
                 ) -> None:
        self._remote = remote
        self._port = remote_port
        self._on_bytes = on_bytes
        self.server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    def get_port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._remote.open_channel(self._port)
        except GatewayError:
            writer.close()
            return
        pipes = [asyncio.ensure_future(self._pipe(reader, up_writer)),
                 asyncio.ensure_future(self._pipe(up_reader, writer))]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
                self._pipes.discard(pipe)
            up_writer.close()
            writer.close()

    async def _pipe(self, source: asyncio.StreamReader | asyncssh.SSHReader[bytes],
                    sink: asyncio.StreamWriter | asyncssh.SSHWriter[bytes]) -> None:
        with contextlib.suppress(OSError, asyncssh.Error, ConnectionError):
            while chunk := await source.read(self.CHUNK):
                self._on_bytes(len(chunk))
                sink.write(chunk)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for pipe in list(self._pipes):
            pipe.cancel()


__all__ = ["ALLOWED_COMMANDS", "CountedForward", "Endpoint", "HostKeyChanged", "Remote",
           "connect", "resolve_endpoint"]
