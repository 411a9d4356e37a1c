"""SFTP into a simulated droplet's disk, chrooted, with owners kept by `Disk`.

asyncssh's own server does the file work; this subclass only routes owners through the
disk, so that `chown` over SFTP works (and is checked later) whether or not the sandbox
runs as root, and `stat` reports the owners the droplet would.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, cast

import asyncssh

from ibdesk.sandbox.disk import Disk


def _opened(file_obj: object) -> BinaryIO:
    """What asyncssh's SFTPServer hands back from open(): the local file it opened."""
    return cast(BinaryIO, file_obj)


def _text(path: bytes | str) -> str:
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path


class DiskSFTPServer(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[Any], disk: Disk) -> None:
        super().__init__(chan, chroot=str(disk.root).encode())
        self._disk = disk

    # ------------------------------------------------------------------ owners in
    def _take_owner(self, path: str, attrs: asyncssh.SFTPAttrs) -> asyncssh.SFTPAttrs:
        if self._disk.real_owners or (attrs.uid is None and attrs.gid is None):
            return attrs
        uid, gid = self._disk.owner(path)
        self._disk.chown(path, attrs.uid if attrs.uid is not None else uid,
                         attrs.gid if attrs.gid is not None else gid)
        attrs.uid = attrs.gid = None
        attrs.owner = attrs.group = None
        return attrs

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        super().setstat(path, self._take_owner(_text(path), attrs))

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        super().lsetstat(path, self._take_owner(_text(path), attrs))

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        path = self._disk.droplet_path(_text(_opened(file_obj).name))
        super().fsetstat(file_obj, self._take_owner(path, attrs))

    # ------------------------------------------------------------------ owners out
    def _with_owner(self, path: str, result: os.stat_result) -> asyncssh.SFTPAttrs:
        attrs = asyncssh.SFTPAttrs.from_local(result)
        if not self._disk.real_owners:
            attrs.uid, attrs.gid = self._disk.owner(path)
        return attrs

    def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._with_owner(_text(path), os.stat(self.map_path(path)))

    def lstat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._with_owner(_text(path), os.lstat(self.map_path(path)))

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        handle = _opened(file_obj)
        name = _text(handle.name)
        handle.flush()
        return self._with_owner(self._disk.droplet_path(name), os.stat(name))

    # ------------------------------------------------------------------ owners follow
    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().rename(oldpath, newpath)
        self._disk.moved(_text(oldpath), _text(newpath))

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().posix_rename(oldpath, newpath)
        self._disk.moved(_text(oldpath), _text(newpath))

    def remove(self, path: bytes) -> None:
        super().remove(path)
        self._disk.forget(_text(path))

    def rmdir(self, path: bytes) -> None:
        super().rmdir(path)
        self._disk.forget(_text(path))


__all__ = ["DiskSFTPServer"]
