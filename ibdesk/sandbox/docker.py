"""Docker on a simulated droplet: `docker run` read as Docker reads it, containers with
their state and their two output streams.

The sandbox never trusts what ibdesk meant to run: it parses the `docker run` line that
is really on the droplet (in the systemd unit cloud-init wrote, or in the seed image's
starter script), and runs the container the way Docker would: the image's environment,
then `--env-file` (values taken as they are), then `-e`; bind mounts (`-v src:dst[:ro]`)
mapped onto the droplet's disk; the container's user (the image's uid 1000 unless
`--user` says otherwise); ports reachable only as `-p` publishes them; `--rm` removing
the container, and its log, when it exits. stdout and stderr are kept as two streams,
which `docker logs` replays on its own stdout and stderr (`2>&1` merges them, in order).

What runs inside is a `Process`: the light simulated IBeam (sandbox/ibeam.py) or IBeam's
own code in namespaces of its own (sandbox/realibeam.py).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from asyncssh.forward import SSHForwarder

from ibdesk.domain.ibeam import parse_env_list
from ibdesk.sandbox.disk import Disk

IBEAM_REPOSITORY = "voyz/ibeam"
KNOWN_TAGS = {"0.5.12": "0.5.12", "latest": "0.5.12"}
"""The IBeam versions the sandbox can run: `latest` is 0.5.12 as of this writing."""
IMAGE_USER = (1000, 1000)
"""IBeam's Dockerfile: `USER basic_user` (uid/gid 1000)."""
IMAGE_ENV = {
    "PATH": "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "JAVA_HOME": "/usr/lib/jvm/default-java",
    "OUTPUTS_DIR": "/srv/outputs",
    "IBEAM_GATEWAY_DIR": "/srv/clientportal.gw",
    "IBEAM_CHROME_DRIVER_PATH": "/usr/bin/chromedriver",
    "PYTHONPATH": ":/srv:/srv/ibeam",
    "HOME": "/home/basic_user",
}
"""ENV of voyz/ibeam:0.5.12 (its Dockerfile)."""
DOCKER_BINARY = "/usr/bin/docker"
DOCKER_UNIT = "/lib/systemd/system/docker.service"
IMAGES_FILE = "/var/lib/docker/sandbox-images.json"
"""Which images this droplet has pulled (the sandbox's own record)."""


class DockerError(Exception):
    """What the docker CLI prints on stderr, with its exit code (125: docker's own)."""

    def __init__(self, message: str, code: int = 125) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Publish:
    host_ip: str
    host_port: int
    container_port: int


@dataclass
class RunSpec:
    image: str
    name: str | None = None
    env_files: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    publish: list[Publish] = field(default_factory=list)
    user: str | None = None
    remove: bool = False
    detach: bool = False
    restart: str = "no"
    command: list[str] = field(default_factory=list)


_VALUE_FLAGS = {"--name", "--env-file", "-e", "--env", "-v", "--volume", "-p", "--publish",
                "-u", "--user", "--restart", "-w", "--workdir"}


def parse_run(argv: list[str]) -> RunSpec:
    """`docker run [OPTIONS] IMAGE [COMMAND...]` (argv without `docker run`)."""
    options: list[tuple[str, str | None]] = []
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        value: str | None = None
        if flag.startswith("--") and "=" in flag:
            flag, value = flag.split("=", 1)
        elif flag in _VALUE_FLAGS:
            if not rest:
                raise DockerError(f"flag needs an argument: {flag}")
            value = rest.pop(0)
        elif flag not in ("--rm", "-d", "--detach", "--init", "-i", "-t", "-it"):
            raise DockerError(f"unknown flag: {flag}\nSee 'docker run --help'.")
        options.append((flag, value))
    if not rest:
        raise DockerError('"docker run" requires at least 1 argument.')
    spec = RunSpec(image=rest[0], command=rest[1:])
    for flag, value in options:
        if flag == "--name":
            spec.name = value
        elif flag == "--env-file":
            spec.env_files.append(value or "")
        elif flag in ("-e", "--env"):
            spec.env.append(value or "")
        elif flag in ("-v", "--volume"):
            parts = (value or "").split(":")
            if len(parts) not in (2, 3) or not parts[0].startswith("/"):
                raise DockerError(f"invalid volume specification: '{value}'")
            spec.mounts.append(Mount(parts[0], parts[1], len(parts) == 3 and "ro" in
                                     parts[2].split(",")))
        elif flag in ("-p", "--publish"):
            spec.publish.append(_publish(value or ""))
        elif flag in ("-u", "--user"):
            spec.user = value
        elif flag == "--rm":
            spec.remove = True
        elif flag in ("-d", "--detach"):
            spec.detach = True
        elif flag == "--restart":
            spec.restart = value or "no"
    return spec


def _publish(value: str) -> Publish:
    parts = value.split(":")
    try:
        if len(parts) == 3:
            return Publish(parts[0] or "0.0.0.0", int(parts[1]), int(parts[2]))
        if len(parts) == 2:
            return Publish("0.0.0.0", int(parts[0]), int(parts[1]))
    except ValueError:
        pass
    raise DockerError(f"invalid publish spec: {value}")


def find_run_lines(text: str) -> list[list[str]]:
    """The `docker ...` command lines of a shell script (continuations joined)."""
    joined = re.sub(r"\\\n", " ", text)
    return [shlex.split(line.strip()) for line in joined.splitlines()
            if line.strip().startswith("docker ")]


@dataclass(frozen=True)
class LogLine:
    at: float
    stream: str
    """`stdout` or `stderr`."""
    text: str


@dataclass
class ContainerConfig:
    """A resolved `docker run`: what the process inside gets."""

    env: dict[str, str]
    mounts: list[Mount]
    user: tuple[int, int]
    publish: list[Publish]
    image_tag: str

    def host_path(self, container_path: str) -> tuple[Mount | None, str]:
        """(the mount it falls under, or None for the container's own layer; the path on
        the droplet's disk, or inside the container)."""
        clean = posixpath.normpath(container_path)
        best: Mount | None = None
        for mount in self.mounts:
            target = posixpath.normpath(mount.target)
            if clean == target or clean.startswith(target.rstrip("/") + "/"):
                if best is None or len(target) > len(posixpath.normpath(best.target)):
                    best = mount
        if best is None:
            return None, clean
        tail = clean[len(posixpath.normpath(best.target)):].lstrip("/")
        return best, posixpath.join(best.source, tail) if tail else best.source


class Process(Protocol):
    """What runs in a container (the light or the real IBeam)."""

    async def start(self) -> None: ...
    async def stop(self, timeout: float) -> None: ...
    def advance(self) -> None: ...
    async def connect(self, port: int) -> SSHForwarder | None: ...


ProcessFactory = Callable[["Container"], Process]


class Container:
    def __init__(self, name: str, spec: RunSpec, config: ContainerConfig,
                 on_exit: Callable[[Container], None]) -> None:
        self.name = name
        self.spec = spec
        self.config = config
        self.state = "created"
        self.exit_code: int | None = None
        self.logs: deque[LogLine] = deque(maxlen=20_000)
        self.process: Process | None = None
        self.started_at = 0.0
        self._on_exit = on_exit

    def write(self, stream: str, text: str) -> None:
        """Output of the process inside: one entry per line, as `docker logs` counts."""
        now = time.time()
        for line in text.splitlines() or [""]:
            self.logs.append(LogLine(now, stream, line))

    def exited(self, code: int) -> None:
        """Called by the process when it ends."""
        if self.state != "running":
            return
        self.state = "exited"
        self.exit_code = code
        self._on_exit(self)

    @property
    def running(self) -> bool:
        return self.state == "running"


class Docker:
    """The docker daemon of one droplet."""

    def __init__(self, disk: Disk, factory: ProcessFactory,
                 image_env: dict[str, str] | None = None) -> None:
        self.disk = disk
        self.factory = factory
        self.image_env = {**IMAGE_ENV, **(image_env or {})}
        """The image's ENV, plus what the sandbox adds to it to make tests quick."""
        self.containers: dict[str, Container] = {}
        self.exit_listeners: list[Callable[[Container], None]] = []

    # ------------------------------------------------------------------ installation
    @property
    def installed(self) -> bool:
        return self.disk.host(DOCKER_BINARY).is_file()

    def install(self) -> None:
        """What `apt-get install docker.io` leaves behind that the sandbox looks at."""
        self.disk.write(DOCKER_BINARY, b"#!/bin/sh\n# sandbox: the docker CLI\n", 0o755)
        self.disk.write(DOCKER_UNIT, b"[Unit]\nDescription=Docker Application Container "
                        b"Engine\n[Service]\nExecStart=/usr/bin/dockerd\n", 0o644)

    def images(self) -> set[str]:
        path = self.disk.host(IMAGES_FILE)
        return set(json.loads(path.read_text())) if path.is_file() else set()

    def pull(self, image: str) -> str:
        """`docker pull`; returns what it prints."""
        self._require()
        tag = _tag(image)
        if tag is None:
            raise DockerError(f"Error response from daemon: manifest for {image} not found: "
                              "manifest unknown: manifest unknown", 1)
        have = self.images() | {_full(image)}
        self.disk.write(IMAGES_FILE, json.dumps(sorted(have)).encode(), 0o600)
        return (f"{tag}: Pulling from {IBEAM_REPOSITORY}\nDigest: sha256:"
                f"{'0' * 64}\nStatus: Downloaded newer image for {_full(image)}\n")

    def _require(self) -> None:
        if not self.installed:
            raise DockerError("docker: command not found", 127)

    # ------------------------------------------------------------------ containers
    async def run(self, spec: RunSpec) -> Container:
        self._require()
        if _tag(spec.image) is None:
            raise DockerError(f"Unable to find image '{spec.image}' locally\ndocker: Error "
                              "response from daemon: manifest unknown.")
        if _full(spec.image) not in self.images():
            self.pull(spec.image)  # docker run pulls what is missing
        name = spec.name or f"sandbox_{len(self.containers) + 1}"
        if name in self.containers:
            raise DockerError(f'docker: Error response from daemon: Conflict. The container '
                              f'name "/{name}" is already in use. You have to remove (or '
                              'rename) that container to be able to reuse that name.')
        config = self._resolve(spec)
        container = Container(name, spec, config, self._exited)
        self.containers[name] = container
        container.process = self.factory(container)
        container.state = "running"
        container.started_at = time.time()
        await container.process.start()
        return container

    def _resolve(self, spec: RunSpec) -> ContainerConfig:
        env = dict(self.image_env)
        for env_file in spec.env_files:
            path = self.disk.host(env_file)
            if not path.is_file():
                raise DockerError(f"docker: open {env_file}: no such file or directory.")
            env.update(parse_env_list(path.read_text(encoding="utf-8")))
        for item in spec.env:
            key, sep, value = item.partition("=")
            if sep:
                env[key] = value
        for mount in spec.mounts:
            if not self.disk.host(mount.source).exists():
                # Docker makes a missing bind-mount source as an empty root-owned folder
                self.disk.mkdir(mount.source, 0o755)
        user = IMAGE_USER
        if spec.user:
            uid, _, gid = spec.user.partition(":")
            try:
                user = (int(uid), int(gid or uid))
            except ValueError:
                raise DockerError(f"unable to find user {spec.user}: no matching entries in "
                                  "passwd file") from None
        return ContainerConfig(env, list(spec.mounts), user, list(spec.publish),
                               _tag(spec.image) or "")

    def _exited(self, container: Container) -> None:
        for listener in list(self.exit_listeners):
            listener(container)
        if container.spec.remove:
            self.containers.pop(container.name, None)

    async def stop(self, name: str, timeout: float = 10.0) -> None:
        container = self._get(name)
        if container.running and container.process is not None:
            await container.process.stop(timeout)
            container.exited(143)

    async def remove(self, name: str, *, force: bool = False) -> None:
        container = self._get(name)
        if container.running:
            if not force:
                raise DockerError("Error response from daemon: You cannot remove a running "
                                  "container. Stop the container before attempting removal "
                                  "or force remove", 1)
            if container.process is not None:
                await container.process.stop(0)
            container.exited(137)
        self.containers.pop(name, None)

    async def stop_all(self) -> None:
        """The droplet shuts down: every container ends (and `--rm` ones are removed)."""
        for name in list(self.containers):
            await self.stop(name, timeout=0)

    def _get(self, name: str) -> Container:
        container = self.containers.get(name)
        if container is None:
            raise DockerError(f"Error response from daemon: No such container: {name}", 1)
        return container

    def published(self, host_port: int) -> Container | None:
        """The running container that publishes `host_port` on the droplet's loopback."""
        for container in self.containers.values():
            if container.running and any(
                    p.host_port == host_port and p.host_ip in ("127.0.0.1", "0.0.0.0")
                    for p in container.config.publish):
                return container
        return None

    def advance(self) -> None:
        for container in list(self.containers.values()):
            if container.running and container.process is not None:
                container.process.advance()

    # ------------------------------------------------------------------ the CLI's output
    def inspect_status(self, name: str) -> str:
        return self._get(name).state

    def log_output(self, name: str, tail: int | None, *, merged: bool) -> tuple[str, str]:
        """(stdout, stderr) of `docker logs [--tail N] NAME` (`merged`: `2>&1`)."""
        lines = list(self._get(name).logs)
        if tail is not None:
            lines = lines[-tail:] if tail else []
        out = "".join(f"{line.text}\n" for line in lines
                      if merged or line.stream == "stdout")
        err = "" if merged else "".join(f"{line.text}\n" for line in lines
                                        if line.stream == "stderr")
        return out, err


def _tag(image: str) -> str | None:
    repository, _, tag = image.partition(":")
    if repository not in (IBEAM_REPOSITORY, f"docker.io/{IBEAM_REPOSITORY}"):
        return None
    return KNOWN_TAGS.get(tag or "latest")


def _full(image: str) -> str:
    repository, _, tag = image.partition(":")
    return f"{repository.removeprefix('docker.io/')}:{tag or 'latest'}"


__all__ = ["Container", "ContainerConfig", "Docker", "DockerError", "IMAGE_ENV",
           "IMAGE_USER", "LogLine", "Mount", "Process", "Publish", "RunSpec",
           "find_run_lines", "parse_run"]
