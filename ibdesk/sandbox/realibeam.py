"""The real IBeam as a sandbox droplet's container: IBeam 0.5.12's own code (the PyPI
package `ibeam==0.5.12`, in a virtual environment of its own) with real headless
Chromium, against the sandbox's Client Portal gateway and login page.

What stands in for what on a droplet:

| on a droplet (voyz/ibeam:0.5.12)          | here                                          |
|-------------------------------------------|-----------------------------------------------|
| the image's Python and IBeam              | `IBEAM_HOME`: a venv with `ibeam==0.5.12`     |
| Debian's chromium + chromedriver, Xvfb    | the same Debian packages on this machine      |
| IBKR's Java gateway, IBKR's login page    | sandbox/cpgateway.py, started by `bin/run.sh` |
| IBKR's servers                            | sandbox/ibkr.py behind a unix socket          |
| the container's network, PIDs and mounts  | `unshare --net --pid --mount`, container_init |
| `USER basic_user` (uid 1000)              | uid 1000, really (root only, see below)       |
| docker-proxy for `-p`                     | one unix socket per published port            |

Paths IBeam is told about (its secret files, `IBEAM_OUTPUTS_DIR`, `IBEAM_GATEWAY_DIR`,
`HOME`) are the container's paths mapped onto where they are here: a bind mount's view
under the container's own folder, so that only the mounted folder's owner and mode
count, as inside Docker. IBeam's log lines therefore name these paths.

The image's environment gets three additions so that a test takes seconds rather than
minutes, all of them IBeam settings that ibdesk's own env file never sets:
`IBEAM_MAINTENANCE_INTERVAL` (the sandbox's `--maintenance-seconds`),
`IBEAM_MIN_PRESUBMIT_BUFFER=0` and `IBEAM_MAX_PRESUBMIT_BUFFER=1`.

Running IBeam as uid 1000 in namespaces of its own needs root; without root the sandbox
refuses `--real-ibeam` and says so (its light simulated IBeam applies the same owner and
mode checks by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncssh.forward import SSHForwarder

from ibdesk.sandbox.cpgateway import PROCESS_NAME
from ibdesk.sandbox.docker import Container
from ibdesk.sandbox.ibeam import HostContext
from ibdesk.self_command import module_command

IBEAM_VERSION = "0.5.12"
PR_SET_PDEATHSIG = 1
CONF_YAML = """\
# The sandbox gateway's conf.yaml: the keys of IBKR's, with the allow list voyz/ibeam
# ships (its Dockerfile adds 172.* for Docker's networks).
ip2loc: "US"
proxyRemoteSsl: true
proxyRemoteHost: "https://api.ibkr.com"
listenPort: 5000
listenSsl: true
ccp: false
svcEnvironment: "v1"
ips:
  allow:
    - 10.*
    - 192.*
    - 172.*
    - 172.17.0.*
    - 127.0.0.1
  deny:
    - 212.90.324.10
    - 0.0.0.0/0
"""


class RealIBeamUnavailable(Exception):
    """What is missing for --real-ibeam, in a sentence that says how to get it."""


def default_home() -> Path:
    """Where IBeam's venv lives: a place uid 1000 can read (not under /root)."""
    env = os.environ.get("IBDESK_SANDBOX_IBEAM_HOME")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path(f"/var/cache/ibdesk/ibeam-{IBEAM_VERSION}")
    return Path.home() / ".cache" / "ibdesk" / f"ibeam-{IBEAM_VERSION}"


@dataclass(frozen=True)
class IBeamInstall:
    home: Path

    @property
    def python(self) -> Path:
        return self.home / "bin" / "python"

    @property
    def package(self) -> Path:
        return self.home / "lib" / "python3.11" / "site-packages" / "ibeam"

    def version(self) -> str | None:
        if not self.python.exists():
            return None
        probe = subprocess.run(
            [str(self.python), "-c", "import ibeam; print(ibeam.__version__)"],
            capture_output=True, text=True, check=False, timeout=60)
        return probe.stdout.strip() if probe.returncode == 0 else None

    def ensure(self, *, install: bool = True, say: Any = None) -> IBeamInstall:
        """The venv with `ibeam==0.5.12`, made (from PyPI) when missing."""
        if self.version() == IBEAM_VERSION:
            return self
        if not install:
            raise RealIBeamUnavailable(
                f"IBeam {IBEAM_VERSION} is not installed at {self.home}. Create it with: "
                f"/usr/bin/python3 -m venv {self.home} && {self.home}/bin/pip install "
                f"ibeam=={IBEAM_VERSION}")
        base = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        if say is not None:
            say(f"installing IBeam {IBEAM_VERSION} from PyPI into {self.home} (once)")
        self.home.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base, "-m", "venv", "--clear", str(self.home)], check=True)
        subprocess.run([str(self.python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", f"ibeam=={IBEAM_VERSION}"], check=True)
        for folder, _, files in os.walk(self.home):
            os.chmod(folder, 0o755)
            for name in files:
                path = os.path.join(folder, name)
                if not os.path.islink(path):
                    os.chmod(path, os.stat(path).st_mode | 0o444)
        if self.version() != IBEAM_VERSION:
            raise RealIBeamUnavailable(f"Installing IBeam {IBEAM_VERSION} into {self.home} "
                                       "did not work; see pip's output above.")
        return self


def check_machine() -> None:
    """Everything the real IBeam needs from this machine, or one sentence of what not."""
    if os.geteuid() != 0:
        raise RealIBeamUnavailable(
            "--real-ibeam runs IBeam as uid 1000 in network, PID and mount namespaces of "
            "its own, which needs root (run the sandbox with sudo). Without root, the light "
            "simulated IBeam (the default) applies the same owner and mode checks itself.")
    missing = [name for name in ("chromium", "chromedriver", "Xvfb", "unshare")
               if shutil.which(name) is None]
    if missing:
        raise RealIBeamUnavailable(
            f"The real IBeam needs {', '.join(missing)} on this machine: on Debian or "
            "Ubuntu, `apt-get install chromium chromium-driver xvfb util-linux` "
            "(python3 .ci/dev.py test installs them).")


class RealRuntime:
    """What every real IBeam container of one sandbox shares."""

    def __init__(self, install: IBeamInstall, cert: Path, key: Path,
                 maintenance_seconds: float) -> None:
        self.install = install
        self.cert = cert
        self.key = key
        self.maintenance_seconds = maintenance_seconds
        self.root = Path(tempfile.mkdtemp(prefix="ibdsk-"))
        """Short (unix socket paths are limited to 107 bytes) and outside the state."""
        os.chmod(self.root, 0o711)
        self.ibkr_socket = self.root / "ibkr.sock"
        """IBKR's socket, which each container's gateway (uid 1000) connects to."""
        self._count = 0

    @property
    def image_env(self) -> dict[str, str]:
        return {"IBEAM_MAINTENANCE_INTERVAL": str(max(1, int(self.maintenance_seconds))),
                "IBEAM_MIN_PRESUBMIT_BUFFER": "0", "IBEAM_MAX_PRESUBMIT_BUFFER": "1"}

    def folder(self, gateway_id: str) -> Path:
        self._count += 1
        path = self.root / f"c{gateway_id}-{self._count}"
        path.mkdir(mode=0o755)
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _pdeathsig() -> None:
    """The sandbox going away takes its containers with it."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class RealIBeam:
    """One container's process: IBeam's own code in namespaces of its own."""

    def __init__(self, container: Container, host: HostContext, runtime: RealRuntime) -> None:
        self.container = container
        self.host = host
        self.runtime = runtime
        self.folder = runtime.folder(host.gateway_id)
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._waiter: asyncio.Task[None] | None = None
        self.ports: dict[int, Path] = {}

    # ------------------------------------------------------------------ the container
    def _view(self, source: str) -> Path:
        return self.folder / "mnt" / source.strip("/")

    def _translate(self, container_path: str) -> str:
        """A container path → where this container's process finds it here."""
        config = self.container.config
        mount, _ = config.host_path(container_path)
        if mount is not None:
            rest = os.path.relpath(os.path.normpath(container_path),
                                   os.path.normpath(mount.target))
            view = self._view(mount.target)
            return str(view if rest == "." else view / rest)
        image = {"/srv/clientportal.gw": self.folder / "gateway",
                 "/srv/outputs": self.folder / "outputs", "/srv/inputs": self.folder / "inputs",
                 "/home/basic_user": self.folder / "home", "/opt/venv": self.runtime.install.home}
        for prefix, here in image.items():
            if container_path == prefix or container_path.startswith(prefix + "/"):
                return str(here) + container_path[len(prefix):]
        return container_path

    def _environment(self) -> dict[str, str]:
        env = dict(self.container.config.env)
        env.pop("PYTHONPATH", None)  # the image's /srv/ibeam; the venv holds IBeam here
        fs = env.get("IBEAM_SECRETS_SOURCE") == "fs"
        for name in ("IBEAM_GATEWAY_DIR", "IBEAM_INPUTS_DIR", "HOME",
                     *(("IBEAM_ACCOUNT", "IBEAM_PASSWORD", "IBEAM_KEY") if fs else ())):
            if name in env:
                env[name] = self._translate(env[name])
        env["IBEAM_OUTPUTS_DIR"] = self._translate(env.get("IBEAM_OUTPUTS_DIR", "/srv/outputs"))
        env.setdefault("IBEAM_INPUTS_DIR", self._translate("/srv/inputs"))
        env["PATH"] = ":".join(self._translate(p) for p in env.get("PATH", "").split(":"))
        env["TMPDIR"] = str(self.folder / "tmp")
        return env

    def _make_gateway(self, uid: int, gid: int) -> None:
        gateway = self.folder / "gateway"
        (gateway / "bin").mkdir(parents=True)
        (gateway / "root").mkdir()
        shutil.copy(Path(__file__).with_name("cpgateway.py"), gateway / "cpgateway.py")
        shutil.copy(self.runtime.cert, gateway / "root" / "cert.pem")
        shutil.copy(self.runtime.key, gateway / "root" / "key.pem")
        (gateway / "root" / "conf.yaml").write_text(CONF_YAML)
        (gateway / "bin" / "run.sh").write_text(
            "#!/bin/bash\n"
            "# The sandbox's stand-in for IBKR's bin/run.sh: the same argument and the same\n"
            "# process name, the sandbox's gateway instead of IBKR's Java one.\n"
            'if [ $# -lt 1 ]; then >&2 echo "usage: $0 /path/to/conf.yaml"; exit 1; fi\n'
            'echo "running "\n'
            'echo " config file  : $1"\n'
            f'exec "{self.runtime.install.python}" cpgateway.py {PROCESS_NAME} --conf "$1" '
            f'--cert root/cert.pem --key root/key.pem --ibkr "{self.runtime.ibkr_socket}" '
            f'--gateway "{self.host.gateway_id}"\n')
        (gateway / "bin" / "run.sh").chmod(0o755)
        for name in ("tmp", "home", "outputs", "inputs"):
            (self.folder / name).mkdir(mode=0o700 if name in ("tmp", "home") else 0o755)
        for path in [gateway, *gateway.rglob("*"), *(self.folder / n for n in
                                                      ("tmp", "home", "outputs"))]:
            os.chown(path, uid, gid)  # the image chowns its folders to basic_user

    async def start(self) -> None:
        config = self.container.config
        uid, gid = config.user
        self._make_gateway(uid, gid)
        mounts = [(str(self.host.disk.host(m.source)), str(self._view(m.target)), m.read_only)
                  for m in config.mounts]
        for publish in config.publish:
            self.ports[publish.container_port] = self.folder / f"port-{publish.container_port}.sock"
        spec = {"mounts": mounts, "user": [uid, gid], "env": self._environment(),
                "cwd": str(self.runtime.install.package),
                "argv": [str(self.runtime.install.python),
                         str(self.runtime.install.package / "ibeam_starter.py")],
                "ports": [[port, str(path)] for port, path in self.ports.items()],
                "stop_timeout": 10}
        spec_file = self.folder / "spec.json"
        spec_file.write_text(json.dumps(spec))
        spec_file.chmod(0o600)
        init, init_env = module_command("ibdesk.sandbox.container_init")
        self._process = await asyncio.create_subprocess_exec(
            "unshare", "--net", "--pid", "--mount", "--fork", "--kill-child",
            "--mount-proc", *init, str(spec_file), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=_pdeathsig,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                 "PYTHONPATH": os.pathsep.join(sys.path), **init_env})
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [asyncio.create_task(self._read(self._process.stdout, "stdout")),
                         asyncio.create_task(self._read(self._process.stderr, "stderr"))]
        self._waiter = asyncio.create_task(self._wait())

    async def _read(self, stream: asyncio.StreamReader, name: str) -> None:
        while line := await stream.readline():
            self.container.write(name, line.decode("utf-8", "replace").rstrip("\n"))

    async def _wait(self) -> None:
        assert self._process is not None
        code = await self._process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self.container.exited(code)

    def _init_pid(self) -> int | None:
        """The container's process 1, as this machine numbers it (unshare's child)."""
        if self._process is None:
            return None
        try:
            children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
            first = children.read_text().split()
        except OSError:
            return None
        return int(first[0]) if first else None

    async def stop(self, timeout: float) -> None:
        """`docker stop`: SIGTERM to the container's first process, SIGKILL after
        `timeout` seconds."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        init = self._init_pid()
        with contextlib.suppress(ProcessLookupError):
            if init is not None and timeout > 0:
                os.kill(init, signal.SIGTERM)
            else:
                process.kill()
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout or 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if self._waiter is not None:
            await self._waiter

    def advance(self) -> None:
        """Real time passes by itself."""

    async def connect(self, port: int) -> SSHForwarder | None:
        path = self.ports.get(port)
        if path is None or self._process is None or self._process.returncode is not None:
            return None
        loop = asyncio.get_running_loop()
        try:
            _, peer = await loop.create_unix_connection(SSHForwarder, str(path))
        except OSError:
            return None  # the container is still coming up
        return SSHForwarder(peer)

    def describe(self) -> dict[str, Any]:
        return {"kind": "real", "state": "running" if self._process and
                self._process.returncode is None else "exited",
                "folder": str(self.folder), "init_pid": self._init_pid()}


__all__ = ["IBEAM_VERSION", "IBeamInstall", "RealIBeam", "RealIBeamUnavailable",
           "RealRuntime", "check_machine", "default_home"]
