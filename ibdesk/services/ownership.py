"""Who is carrying an operation on, and whether that run is still going.

A pending operation has one live owner at a time (`Repository.claim_operation` sets it
by compare-and-set). An owner is alive when

* it is a run of this very process that has not ended (the window runs many connects,
  resumes and deletes over days; each is told apart by its run id, registered here for
  exactly as long as it runs), or
* it is another process on this computer that still exists, is not a zombie, and started
  when the owner says it started (so a new process that got a dead owner's pid does not
  pass for it).

An owner recorded on another computer (a data folder copied over, a renamed host) is
treated as dead: its process cannot be asked, and nothing else could finish its work.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ibdesk.domain.models import OperationOwner

_live_runs: set[str] = set()
_lock = threading.Lock()


def _process_started(pid: int) -> float | None:
    """The process's start time in clock ticks since boot (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:
        return float(fields[19])  # field 22 of stat(5); fields[0] is field 3
    except (IndexError, ValueError):
        return None


def new_owner() -> OperationOwner:
    """A fresh run of this process (not yet registered as running)."""
    return OperationOwner(run=uuid.uuid4().hex, pid=os.getpid(), host=socket.gethostname(),
                          process_started=_process_started(os.getpid()))


@contextmanager
def running(owner: OperationOwner) -> Iterator[OperationOwner]:
    """Mark `owner` as a live run of this process for the duration of the block."""
    with _lock:
        _live_runs.add(owner.run)
    try:
        yield owner
    finally:
        with _lock:
            _live_runs.discard(owner.run)


def is_alive(owner: OperationOwner) -> bool:
    if owner.host != socket.gethostname():
        return False
    if owner.pid == os.getpid():
        with _lock:
            return owner.run in _live_runs
    if not _process_exists(owner.pid):
        return False
    if owner.process_started is not None:
        started = _process_started(owner.pid)
        if started is not None and started != owner.process_started:
            return False  # the pid was given to a new process
    return True


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_process_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    except OSError:
        return False
    if sys.platform.startswith("linux"):  # a killed child may linger as a zombie
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    return True


def _windows_process_exists(pid: int) -> bool:
    """os.kill(pid, 0) would terminate the process on Windows: ask with OpenProcess."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    query_limited_information = 0x1000
    still_active = 259
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


__all__ = ["is_alive", "new_owner", "running"]
