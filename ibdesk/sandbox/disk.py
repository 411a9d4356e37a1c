"""A simulated droplet's disk: a folder on this machine, with owners that mean something.

IBeam's container runs as uid 1000, so who owns a file on the droplet decides whether
IBeam can read it. When the sandbox runs as root, owners are real (`os.chown`) and the
real IBeam, run as uid 1000, meets the kernel's own checks. Otherwise the sandbox cannot
give a file to uid 1000: it keeps each path's owner in a table beside the folder (every
file made over SFTP as `root` belongs to uid 0 until someone chowns it), and
`can(path, uid, gid, access)` applies the kernel's rules to those owners and the real
modes. Both answer the same question the same way, which is what the tests rely on.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from pathlib import Path

READ, WRITE, EXECUTE = 4, 2, 1


class Disk:
    def __init__(self, root: Path, *, real_owners: bool | None = None) -> None:
        self.root = root
        self.real_owners = os.geteuid() == 0 if real_owners is None else real_owners
        self._table_file = root.with_name(root.name + ".owners.json")
        self._owners: dict[str, list[int]] = {}
        if not self.real_owners and self._table_file.exists():
            self._owners = json.loads(self._table_file.read_text())

    # ------------------------------------------------------------------ paths
    @staticmethod
    def normalise(path: str) -> str:
        return posixpath.normpath(posixpath.join("/", path))

    def host(self, path: str) -> Path:
        """Where the droplet's absolute `path` lives on this machine (never outside)."""
        return self.root / self.normalise(path).lstrip("/")

    def droplet_path(self, host_path: str | Path) -> str:
        relative = Path(host_path).resolve().relative_to(self.root.resolve())
        return "/" + relative.as_posix() if str(relative) != "." else "/"

    # ------------------------------------------------------------------ owners
    def owner(self, path: str) -> tuple[int, int]:
        target = self.host(path)
        if self.real_owners:
            st = target.lstat()
            return st.st_uid, st.st_gid
        target.lstat()  # FileNotFoundError for what does not exist
        uid, gid = self._owners.get(self.normalise(path), (0, 0))
        return uid, gid

    def chown(self, path: str, uid: int, gid: int) -> None:
        target = self.host(path)
        if self.real_owners:
            os.chown(target, uid, gid)
            return
        target.lstat()
        self._owners[self.normalise(path)] = [uid, gid]
        self._save()

    def forget(self, path: str) -> None:
        """A removed path loses its owner (and everything under it)."""
        if self.real_owners:
            return
        prefix = self.normalise(path).rstrip("/") + "/"
        for key in [k for k in self._owners if k == self.normalise(path) or
                    k.startswith(prefix)]:
            del self._owners[key]
        self._save()

    def moved(self, old: str, new: str) -> None:
        if self.real_owners:
            return
        old_key = self.normalise(old)
        owner = self._owners.pop(old_key, None)
        self._owners.pop(self.normalise(new), None)
        if owner is not None:
            self._owners[self.normalise(new)] = owner
        self._save()

    def _save(self) -> None:
        tmp = self._table_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._owners))
        tmp.replace(self._table_file)

    # ------------------------------------------------------------------ making things
    def mkdir(self, path: str, mode: int = 0o755, owner: tuple[int, int] = (0, 0)) -> None:
        """`install -d`: the folder and its missing parents; the mode and owner apply to
        the folder itself, as `install -d -m -o -g` does."""
        target = self.host(path)
        missing = []
        probe = self.normalise(path)
        while probe != "/" and not self.host(probe).exists():
            missing.append(probe)
            probe = posixpath.dirname(probe)
        target.mkdir(parents=True, exist_ok=True)
        for made in missing[1:]:
            self.chown(made, 0, 0)
        os.chmod(target, mode)
        self.chown(path, *owner)

    def write(self, path: str, data: bytes, mode: int = 0o644,
              owner: tuple[int, int] = (0, 0)) -> None:
        target = self.host(path)
        if not target.parent.exists():
            self.mkdir(posixpath.dirname(self.normalise(path)))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(target, mode)
        self.chown(path, *owner)

    # ------------------------------------------------------------------ the kernel's rules
    def can(self, path: str, uid: int, gid: int, access: int) -> bool:
        """Could a process of `uid`/`gid` (no extra groups) reach `path` and get `access`?
        Every folder on the way needs search (x) permission; root may do anything but
        execute a file nobody may execute."""
        clean = self.normalise(path)
        parts = [p for p in clean.split("/") if p]
        current = "/"
        for part in parts[:-1] if parts else []:
            current = posixpath.join(current, part)
            if not self._allowed(current, uid, gid, EXECUTE):
                return False
        return self._allowed(clean, uid, gid, access)

    def _allowed(self, path: str, uid: int, gid: int, access: int) -> bool:
        try:
            st = self.host(path).stat()
        except OSError:
            return False
        if uid == 0:
            return not (access & EXECUTE and stat.S_ISREG(st.st_mode) and
                        not st.st_mode & 0o111)
        owner_uid, owner_gid = self.owner(path)
        mode = st.st_mode
        if uid == owner_uid:
            bits = (mode >> 6) & 7
        elif gid == owner_gid:
            bits = (mode >> 3) & 7
        else:
            bits = mode & 7
        return bits & access == access

    def is_file(self, path: str, uid: int, gid: int) -> bool:
        """`os.path.isfile` as that user sees it: False when a folder on the way may not be
        searched (that is how IBeam comes to say "value is not a file")."""
        clean = self.normalise(path)
        parent = posixpath.dirname(clean)
        return self.host(clean).is_file() and (parent == "/" or
                                               self.can(parent, uid, gid, EXECUTE))


__all__ = ["EXECUTE", "READ", "WRITE", "Disk"]
