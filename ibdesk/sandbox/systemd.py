"""systemd on a simulated droplet, for the one kind of unit ibdesk installs.

A unit is read from the droplet's disk (`/etc/systemd/system/NAME`, then
`/lib/systemd/system/NAME`) each time it is used, so what runs is what cloud-init really
wrote. `ExecStartPre`, `ExecStart` and `ExecStop` are `docker` command lines (the only
kind ibdesk writes; anything else makes the start fail, as a missing binary would);
`ExecStart` is the unit's main process, a `docker run` attached to its container, so the
unit is active while the container runs and `inactive`/`failed` after it exits
(`Restart=no`). `systemctl start` returns as soon as the process is started, as it does
for `Type=simple`: a container that dies a second later still started "successfully".
Enabling is the real symlink under `multi-user.target.wants/`, so it survives reboots
and sandbox restarts; on boot every enabled unit starts.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from ibdesk.sandbox.disk import Disk
from ibdesk.sandbox.docker import Container, Docker, DockerError, parse_run

UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system")
WANTS = "/etc/systemd/system/multi-user.target.wants"


@dataclass
class Unit:
    name: str
    requires: list[str] = field(default_factory=list)
    exec_start_pre: list[tuple[bool, list[str]]] = field(default_factory=list)
    exec_start: list[str] = field(default_factory=list)
    exec_stop: list[list[str]] = field(default_factory=list)
    restart: str = "no"


def parse_unit(name: str, text: str) -> Unit:
    unit = Unit(name)
    section = ""
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if section == "Unit" and key == "Requires":
            unit.requires += value.split()
        elif section == "Service" and key in ("ExecStartPre", "ExecStart", "ExecStop"):
            ignore = value.startswith("-")
            argv = shlex.split(value.lstrip("-@+!"))
            if key == "ExecStartPre":
                unit.exec_start_pre.append((ignore, argv))
            elif key == "ExecStart":
                unit.exec_start = argv
            else:
                unit.exec_stop.append(argv)
        elif section == "Service" and key == "Restart":
            unit.restart = value
    return unit


class UnitNotFound(Exception):
    pass


class Systemd:
    def __init__(self, disk: Disk, docker: Docker) -> None:
        self.disk = disk
        self.docker = docker
        self.main: dict[str, Container] = {}
        """The main process (its attached container) of each started unit."""
        self.failed: set[str] = set()
        self.exec_lines: list[list[str]] = []
        """Every command line a unit ran (tests read what really ran)."""
        self.journal: list[str] = []
        """What a unit's main process said when it failed to run at all."""
        docker.exit_listeners.append(self._container_exited)

    @staticmethod
    def full(name: str) -> str:
        return name if "." in name else f"{name}.service"

    def load(self, name: str) -> Unit:
        name = self.full(name)
        for folder in UNIT_DIRS:
            path = self.disk.host(f"{folder}/{name}")
            if path.is_file():
                return parse_unit(name, path.read_text(encoding="utf-8"))
        raise UnitNotFound(name)

    def enabled(self, name: str) -> bool:
        return os.path.lexists(self.disk.host(f"{WANTS}/{self.full(name)}"))

    def enable(self, name: str) -> str:
        unit = self.load(name)
        link = self.disk.host(f"{WANTS}/{unit.name}")
        if not os.path.lexists(link):
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f"/etc/systemd/system/{unit.name}", link)
            return (f"Created symlink {WANTS}/{unit.name} → "
                    f"/etc/systemd/system/{unit.name}.\n")
        return ""

    def disable(self, name: str) -> str:
        link = self.disk.host(f"{WANTS}/{self.full(name)}")
        if os.path.lexists(link):
            link.unlink()
            return f"Removed \"{WANTS}/{self.full(name)}\".\n"
        return ""

    def is_active(self, name: str) -> str:
        name = self.full(name)
        container = self.main.get(name)
        if container is not None and container.running:
            return "active"
        return "failed" if name in self.failed else "inactive"

    async def start(self, name: str, verb: str = "start") -> tuple[int, str]:
        """(exit code, stderr) of `systemctl start NAME`."""
        try:
            unit = self.load(name)
        except UnitNotFound:
            return 5, f"Failed to {verb} {self.full(name)}: Unit {self.full(name)} not found.\n"
        if self.is_active(unit.name) == "active":
            return 0, ""
        for required in unit.requires:
            try:
                self.load(required)
            except UnitNotFound:
                return 5, (f"Failed to {verb} {unit.name}: Unit {self.full(required)} not "
                           "found.\n")
        self.failed.discard(unit.name)
        for ignore, argv in unit.exec_start_pre:
            code = await self._docker(argv)
            if code != 0 and not ignore:
                self.failed.add(unit.name)
                return 1, (f"Job for {unit.name} failed because the control process exited "
                           "with error code.\n")
        argv = unit.exec_start
        self.exec_lines.append(argv)
        if argv[:2] != ["/usr/bin/docker", "run"]:
            self.failed.add(unit.name)
            return 1, f"Job for {unit.name} failed: {argv[:1]} is not something the " \
                      "sandbox runs.\n"
        try:
            spec = parse_run(argv[2:])
            container = await self.docker.run(spec)
            if container.running:
                self.main[unit.name] = container
            elif container.exit_code:  # it died while starting
                self.failed.add(unit.name)
        except DockerError as exc:
            # systemctl has already returned: the unit's main process fails at once, and
            # what the docker CLI said goes to the journal.
            self.failed.add(unit.name)
            self.main.pop(unit.name, None)
            self.journal.append(f"{unit.name}: {exc}")
        return 0, ""

    async def stop(self, name: str) -> tuple[int, str]:
        try:
            unit = self.load(name)
        except UnitNotFound:
            return 5, f"Failed to stop {self.full(name)}: Unit {self.full(name)} not loaded.\n"
        for argv in unit.exec_stop:
            await self._docker(argv)
        container = self.main.pop(unit.name, None)
        if container is not None and container.running:
            await self.docker.stop(container.name, timeout=0)
        self.failed.discard(unit.name)
        return 0, ""

    async def restart(self, name: str) -> tuple[int, str]:
        try:
            self.load(name)
        except UnitNotFound:
            return await self.start(name, "restart")
        await self.stop(name)
        return await self.start(name, "restart")

    async def boot(self) -> None:
        """The droplet booted: start every enabled unit."""
        wants = self.disk.host(WANTS)
        if not wants.is_dir():
            return
        for link in sorted(wants.iterdir()):
            if link.name.endswith(".service"):
                await self.start(link.name)

    async def shutdown(self) -> None:
        for name in list(self.main):
            await self.stop(name)

    async def _docker(self, argv: list[str]) -> int:
        """One `ExecStartPre`/`ExecStop` docker line: `rm -f NAME` or `stop NAME`."""
        self.exec_lines.append(argv)
        try:
            if argv[:2] == ["/usr/bin/docker", "rm"]:
                await self.docker.remove(argv[-1], force="-f" in argv or "--force" in argv)
            elif argv[:2] == ["/usr/bin/docker", "stop"]:
                await self.docker.stop(argv[-1])
            else:
                return 127
        except DockerError:
            return 1
        return 0

    def _container_exited(self, container: Container) -> None:
        for name, main in list(self.main.items()):
            if main is container:
                self.main.pop(name)
                if container.exit_code:
                    self.failed.add(name)


__all__ = ["Systemd", "Unit", "UnitNotFound", "parse_unit"]
