"""Files only this user can read.

The data folder holds the database (account ids, IBKR usernames, server addresses, the
history), the app log and the settings; a support bundle holds the same. None of it is a
secret (secrets live in the keyring), but none of it is anyone else's business either,
and the default umask of 022 left all of it readable by every local user.

On POSIX (Linux, macOS) the data folder is made 0700 and its files 0600 whenever it is
opened (which also tightens what an earlier ibdesk left 0755/0644), the files ibdesk
writes itself are created 0600, and the `ibdesk` process sets its umask to 077 at
start-up, so that what SQLite and the libraries create is private too. Sandbox mode keeps
the umask as it was: the simulated droplets live in the same process and must get the
modes a real droplet's files get (its data folder is still 0700). On Windows the data
folder is under %LOCALAPPDATA%, whose ACL grants only the user, SYSTEM and the
Administrators, and what is created there inherits it; POSIX modes do not apply there
and are not set.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
FOLDER_MODE = 0o700
FILE_MODE = 0o600
POSIX = os.name == "posix"


def restrict_umask() -> None:
    """From now on, files and folders this process creates are this user's only."""
    if POSIX:
        os.umask(PRIVATE_UMASK)


def private_folder(path: Path) -> Path:
    """Make `path` (and missing parents) and give it mode 0700."""
    path.mkdir(parents=True, exist_ok=True)
    if POSIX:
        with contextlib.suppress(OSError):  # a folder not ours (a shared IBDESK_HOME): leave it
            path.chmod(FOLDER_MODE)
    return path


def private_file(path: Path) -> None:
    """Give an existing file mode 0600."""
    if POSIX:
        with contextlib.suppress(OSError):
            path.chmod(FILE_MODE)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (then make it 0600): SQLite gives
    its -wal and -shm files the database file's mode, so the database is made first."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        private_file(path)


def tighten(home: Path) -> None:
    """The data folder 0700, its files 0600, its folders 0700 and the files of its `logs`
    folder 0600 (an earlier ibdesk left them 0755/0644). Nothing deeper is touched, and
    symbolic links are not followed."""
    if not POSIX:
        return
    private_folder(home)
    for entry in [*home.iterdir(), *(home / "logs").glob("*")]:
        with contextlib.suppress(OSError):
            mode = entry.lstat().st_mode
            if stat.S_ISDIR(mode) and mode & 0o077:
                entry.chmod(FOLDER_MODE)
            elif stat.S_ISREG(mode) and mode & 0o077:
                entry.chmod(FILE_MODE)


__all__ = ["FILE_MODE", "FOLDER_MODE", "create_private", "private_file", "private_folder",
           "restrict_umask", "tighten"]
