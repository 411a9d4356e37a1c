"""The first process of a real IBeam container: what Docker sets up, in a few lines.

`python -m ibdesk.sandbox.container_init SPEC.json` runs as process 1 of new network,
PID and mount namespaces (`unshare`, started by sandbox/realibeam.py), still privileged
there. It:

1. brings up the loopback interface of the container's own network (so IBeam's fixed
   ports — 5000, 5001, Chromium's 9222 — never meet another container's);
2. bind-mounts each volume where the container sees it (read-only for `:ro`), so that
   only the mounted folder's own owner and mode count, as inside Docker;
3. listens on one unix socket per published port and connects each accepted connection
   to that port inside (Docker's port proxy; only published ports are reachable);
4. starts IBeam as the container's user (uid/gid 1000 unless said otherwise; when the
   sandbox is not root, the namespace has only its own user, and the sandbox has checked
   owners and modes itself), with exactly the environment Docker would give it;
5. reaps every orphan (Chromium leaves many), forwards SIGTERM to IBeam, and exits with
   IBeam's exit status, which ends every other process of the container.

Its own messages go to a log file beside the spec, never into the container's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def bind_mount(source: str, target: str, read_only: bool) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    Path(target).mkdir(parents=True, exist_ok=True)
    if libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
        raise OSError(ctypes.get_errno(), f"bind mount {source} on {target}")
    if read_only and libc.mount(None, target.encode(), None,
                                MS_BIND | MS_REMOUNT | MS_RDONLY, None) != 0:
        raise OSError(ctypes.get_errno(), f"remount {target} read-only")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _proxy(port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                  Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            inner_reader, inner_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()  # nothing listens inside: the connection ends at once
            return
        await asyncio.gather(_pipe(reader, inner_writer), _pipe(inner_reader, writer))

    return handle


def _spawn(spec: dict[str, Any]) -> int:
    """fork + exec IBeam with the container's user, environment and working folder."""
    uid, gid = spec["user"]
    drop = os.geteuid() == 0 and spec.get("drop", True)
    pid = os.fork()
    if pid == 0:  # the child: nothing but system calls until exec
        try:
            os.setsid()
            if drop:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
            os.chdir(spec["cwd"])
            os.execve(spec["argv"][0], spec["argv"], spec["env"])
        except BaseException as exc:  # noqa: BLE001 - report, then leave at once
            os.write(2, f"docker: Error response from daemon: {exc}\n".encode())
        finally:
            os._exit(127)
    return pid


async def main(spec_file: str) -> int:
    spec = json.loads(Path(spec_file).read_text())
    log = open(Path(spec_file).with_suffix(".log"), "a", buffering=1)  # noqa: SIM115
    loopback_up()
    for source, target, read_only in spec["mounts"]:
        bind_mount(source, target, read_only)
    servers = []
    for container_port, path in spec["ports"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        servers.append(await asyncio.start_unix_server(_proxy(int(container_port)), path))
        os.chmod(path, 0o600)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    child = _spawn(spec)
    print(f"started IBeam as pid {child}", file=log)

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == child and not done.done():
                done.set_result(os.waitstatus_to_exitcode(status))

    def terminate() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)
        loop.call_later(float(spec.get("stop_timeout", 10)), _settle, done, 137)

    loop.add_signal_handler(signal.SIGCHLD, reap)
    loop.add_signal_handler(signal.SIGTERM, terminate)
    loop.add_signal_handler(signal.SIGINT, terminate)
    reap()
    code = await done
    code = 128 - code if code < 0 else code
    print(f"IBeam exited with {code}", file=log)
    for server in servers:
        server.close()
    return code


def _settle(future: asyncio.Future[int], value: int) -> None:
    """Give `future` its value unless it already has one (the child may have been reaped)."""
    if not future.done():
        future.set_result(value)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
