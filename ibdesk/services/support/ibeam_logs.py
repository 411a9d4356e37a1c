"""IBeam's logs from an account's droplet, over SSH: the container's output (`docker
logs`, a fixed command) and IBeam's own log files (read over SFTP from the outputs
folder), and a follow mode that polls the container output on one kept-open connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import GatewayError
from ibdesk.domain.wording import clip
from ibdesk.gateway import Remote
from ibdesk.services.remote import RemoteAccess
from ibdesk.services.runtime import Runtime

FOLLOW_POLL_SECONDS = 2.0
FILE_TAIL_BYTES = 200_000


@dataclass(frozen=True)
class LogFile:
    name: str
    size: int
    modified: int

    @property
    def path(self) -> str:
        return f"{ib.OUTPUTS_DIR}/{self.name}"


async def _container_lines(remote: Remote, lines: int) -> list[str]:
    code, out, err = await remote.run(ib.logs_command(lines))
    if code != 0:
        raise GatewayError(f"Could not read IBeam's output: {clip(err, 200) or code}. "
                           "IBeam may not have been started on this server yet.")
    return out.splitlines()[-lines:] if lines > 0 else []


async def container_log(rt: Runtime, account_id: str, lines: int = 200) -> list[str]:
    """The last `lines` lines of the `ibeam` container's output."""
    account = await rt.store.require_account(account_id)
    async with RemoteAccess(rt).open(account) as remote:
        return await _container_lines(remote, lines)


async def log_files(rt: Runtime, account_id: str) -> tuple[list[LogFile], str, str]:
    """IBeam's log files on the droplet (oldest first), and the name and end of the
    newest, over one SSH connection."""
    account = await rt.store.require_account(account_id)
    async with RemoteAccess(rt).open(account) as remote:
        files = await _files(remote)
        name, text = await _tail(remote, files[-1]) if files else ("", "")
    return files, name, text


async def _files(remote: Remote) -> list[LogFile]:
    entries = await remote.list_dir(ib.OUTPUTS_DIR)
    files = [LogFile(name, size, mtime) for name, size, mtime in entries
             if name.startswith(ib.LOG_FILE_PREFIX)]
    return sorted(files, key=lambda f: (f.name, f.modified))


async def latest_file_tail(remote: Remote, limit: int = FILE_TAIL_BYTES) -> tuple[str, str]:
    """(name, text) of the end of IBeam's newest log file; ('', '') when there is none."""
    files = await _files(remote)
    return await _tail(remote, files[-1], limit) if files else ("", "")


async def _tail(remote: Remote, file: LogFile, limit: int = FILE_TAIL_BYTES) -> tuple[str, str]:
    data = await remote.read_file(file.path, limit, tail=True)
    return file.name, data.decode("utf-8", "replace")


def new_lines(previous: list[str], current: list[str]) -> tuple[list[str], bool]:
    """The lines of `current` that come after what `previous` ended with, and whether
    some may have been missed (the window moved further than one poll can see)."""
    if not previous:
        return current, False
    # the longest tail of `previous` that starts `current`
    for size in range(min(len(previous), len(current)), 0, -1):
        if previous[-size:] == current[:size]:
            return current[size:], False
    if current and previous[-1] in current:
        index = len(current) - 1 - current[::-1].index(previous[-1])
        return current[index + 1:], False
    return current, True


async def follow(rt: Runtime, account_id: str, lines: int = 50, *,
                 poll: float = FOLLOW_POLL_SECONDS,
                 stop: asyncio.Event | None = None) -> AsyncIterator[str]:
    """The last `lines` lines, then each new line as it appears, until `stop` is set.
    One SSH connection for the whole follow; a gap is marked when output came faster
    than a poll could see."""
    account = await rt.store.require_account(account_id)
    stop = stop or asyncio.Event()
    window = max(lines, 200)
    async with RemoteAccess(rt).open(account) as remote:
        seen = await _container_lines(remote, window)
        for line in seen[-lines:] if lines > 0 else []:
            yield line
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), poll)
                break
            except TimeoutError:
                pass
            current = await _container_lines(remote, window)
            fresh, gap = new_lines(seen, current)
            if gap:
                yield "… (some lines came faster than ibdesk polls; they are in the log file)"
            for line in fresh:
                yield line
            seen = current


__all__ = ["FOLLOW_POLL_SECONDS", "LogFile", "container_log", "follow", "latest_file_tail",
           "log_files", "new_lines"]
