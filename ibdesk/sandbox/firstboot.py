"""cloud-init on a simulated droplet's first boot, run from the user_data really sent.

The droplet's `user_data` is parsed as cloud-init parses it (`#cloud-config`, YAML) and
carried out on the droplet's disk in cloud-init's order: `write_files` early (the init
stage; `defer: true` ones at the end), `package_update`/`packages` in the config stage
(installing `docker.io` leaves the docker CLI and its unit on the disk), `runcmd` in the
final stage. `runcmd` entries are real commands read with the arguments given; the
sandbox knows the few that a first boot of ibdesk's needs (`install -d`, `mkdir`,
`chown`, `chmod`, `systemctl`, `docker pull`, and a `sh -c` retry loop around
`docker pull`) and treats anything else as a command that is not there, which fails the
boot as it would on a droplet.

The boot takes `seconds` of simulated time, with output appended to
`/var/log/cloud-init-output.log` as it goes. `cloud-init status --long` answers in
cloud-init 23.4+'s format and exit codes (cloudinit/cmd/status.py): 0 running or done,
1 error, 2 done but degraded (a recoverable error such as an unknown key).
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from ibdesk.sandbox.disk import Disk
from ibdesk.sandbox.docker import Docker, DockerError

OUTPUT_LOG = "/var/log/cloud-init-output.log"
STATE_FILE = "/var/lib/cloud/data/sandbox-status.json"
BOOT_FINISHED = "/var/lib/cloud/instance/boot-finished"
VERSION = "24.4.1-0ubuntu0~24.04.1"
KNOWN_KEYS = {"package_update", "package_upgrade", "packages", "write_files", "runcmd",
              "swap", "bootcmd", "users", "ssh_authorized_keys", "final_message"}
_PULL_LOOP = re.compile(r"docker pull (\S+)")

SystemctlRunner = Callable[[list[str]], Awaitable[tuple[int, str]]]


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


class FirstBoot:
    def __init__(self, disk: Disk, docker: Docker, systemctl: SystemctlRunner,
                 now: Callable[[], float], seconds: float = 3.0) -> None:
        self.disk = disk
        self.docker = docker
        self.systemctl = systemctl
        self.now = now
        self.seconds = seconds
        self.state: dict[str, Any] = {}
        path = disk.host(STATE_FILE)
        if path.is_file():
            self.state = json.loads(path.read_text())

    # ------------------------------------------------------------------ state
    @property
    def started(self) -> bool:
        return bool(self.state)

    @property
    def done(self) -> bool:
        return bool(self.state.get("done"))

    def _save(self) -> None:
        self.disk.write(STATE_FILE, json.dumps(self.state).encode(), 0o644)

    def _out(self, *lines: str) -> None:
        path = self.disk.host(OUTPUT_LOG)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")

    # ------------------------------------------------------------------ the boot
    def begin(self, user_data: str | None, *, degraded: bool = False) -> None:
        """The droplet's first boot starts: read user_data, write files now."""
        now = self.now()
        self.state = {"started": now, "stages_done": [], "errors": [],
                      "recoverable": {}, "done": False, "config": {}}
        self._out(f"Cloud-init v. {VERSION} running 'init-local' at {_stamp(now)}. "
                  "Up 4.02 seconds.",
                  f"Cloud-init v. {VERSION} running 'init' at {_stamp(now)}. Up 5.87 seconds.")
        config = self._parse(user_data)
        if degraded:
            self.state["recoverable"].setdefault("WARNING", []).append(
                "Sandbox: a recoverable problem was injected into this boot.")
        self.state["config"] = config
        self._write_files(config, deferred=False)
        self._save()

    def _parse(self, user_data: str | None) -> dict[str, Any]:
        if not user_data or not user_data.startswith("#cloud-config"):
            return {}
        try:
            config = yaml.safe_load(user_data)
        except yaml.YAMLError as exc:
            self.state["recoverable"].setdefault("WARNING", []).append(
                f"Failed loading yaml blob. {exc}")
            return {}
        if not isinstance(config, dict):
            return {}
        unknown = sorted(set(config) - KNOWN_KEYS)
        if unknown:
            self.state["recoverable"].setdefault("WARNING", []).append(
                "cloud-config failed schema validation! You may run 'sudo cloud-init schema "
                f"--system' to check the details. (unknown: {', '.join(unknown)})")
        return config

    async def advance(self) -> None:
        """Carry out whatever stage has become due."""
        if not self.started or self.done:
            return
        elapsed = self.now() - float(self.state["started"])
        config = self.state["config"]
        stages = self.state["stages_done"]
        if "config" not in stages and elapsed >= self.seconds * 0.5:
            stages.append("config")
            self._packages(config)
            self._save()
        if "final" not in stages and elapsed >= self.seconds:
            stages.append("final")
            self._write_files(config, deferred=True)
            await self._runcmd(config)
            self._finish()
            self._save()

    def _packages(self, config: dict[str, Any]) -> None:
        now = self.now()
        self._out(f"Cloud-init v. {VERSION} running 'modules:config' at {_stamp(now)}. "
                  "Up 12.41 seconds.")
        packages = [str(p) for p in config.get("packages") or []]
        if config.get("package_update") or packages:
            self._out("Hit:1 http://mirrors.digitalocean.com/ubuntu noble InRelease",
                      "Reading package lists...")
        for package in packages:
            self._out(f"Setting up {package} ...")
            if package in ("docker.io", "docker-ce"):
                self.docker.install()

    def _write_files(self, config: dict[str, Any], *, deferred: bool) -> None:
        for entry in config.get("write_files") or []:
            if not isinstance(entry, dict) or bool(entry.get("defer")) != deferred:
                continue
            content = str(entry.get("content") or "")
            encoding = str(entry.get("encoding") or "text")
            data = base64.b64decode(content) if encoding in ("b64", "base64") \
                else content.encode()
            owner = self._owner(str(entry.get("owner") or "root:root"))
            mode = int(str(entry.get("permissions") or "0644"), 8)
            self.disk.write(str(entry["path"]), data, mode, owner)

    @staticmethod
    def _owner(text: str) -> tuple[int, int]:
        names = {"root": 0}
        user, _, group = text.partition(":")

        def one(value: str) -> int:
            return int(value) if value.isdigit() else names.get(value, 0)

        return one(user), one(group or user)

    async def _runcmd(self, config: dict[str, Any]) -> None:
        now = self.now()
        self._out(f"Cloud-init v. {VERSION} running 'modules:final' at {_stamp(now)}. "
                  "Up 48.70 seconds.")
        failures = 0
        commands = config.get("runcmd") or []
        for command in commands:
            argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in
                                                                           command]
            code, output = await self._run(argv)
            if output:
                self._out(*output.splitlines())
            if code != 0:
                failures += 1
        if failures:
            self.state["errors"].append(
                f"('scripts_user', RuntimeError('Runparts: {failures} failures (runcmd) in "
                f"{len(commands)} attempted commands'))")

    async def _run(self, argv: list[str]) -> tuple[int, str]:
        if not argv:
            return 0, ""
        name = argv[0].rsplit("/", 1)[-1]
        try:
            if name == "install" and "-d" in argv:
                return self._install_d(argv[1:])
            if name == "mkdir":
                return self._mkdir(argv[1:])
            if name == "chown":
                owner, *paths = [a for a in argv[1:] if not a.startswith("-")]
                for path in paths:
                    self.disk.chown(path, *self._owner(owner))
                return 0, ""
            if name == "chmod":
                mode, *paths = [a for a in argv[1:] if not a.startswith("-")]
                for path in paths:
                    self.disk.host(path).chmod(int(mode, 8))
                return 0, ""
            if name == "systemctl":
                return await self.systemctl(argv[1:])
            if name == "docker" and argv[1:2] == ["pull"]:
                return 0, self.docker.pull(argv[2])
            if name == "sh" and argv[1:2] == ["-c"] and _PULL_LOOP.search(argv[2]):
                image = _PULL_LOOP.search(argv[2])
                assert image is not None
                return 0, self.docker.pull(image.group(1))
        except DockerError as exc:
            return exc.code, str(exc)
        except (OSError, ValueError) as exc:
            return 1, f"{name}: {exc}"
        return 127, f"/var/lib/cloud/instance/scripts/runcmd: {name}: not found"

    def _install_d(self, args: list[str]) -> tuple[int, str]:
        mode, owner, group, folders = 0o755, "0", "", []
        it = iter(args)
        for arg in it:
            if arg == "-d":
                continue
            if arg == "-m":
                mode = int(next(it), 8)
            elif arg == "-o":
                owner = next(it)
            elif arg == "-g":
                group = next(it)
            else:
                folders.append(arg)
        uid, gid = self._owner(f"{owner}:{group or owner}")
        for folder in folders:
            self.disk.mkdir(folder, mode, (uid, gid))
        return 0, ""

    def _mkdir(self, args: list[str]) -> tuple[int, str]:
        mode = 0o755
        it = iter(args)
        folders = []
        for arg in it:
            if arg == "-m":
                mode = int(next(it), 8)
            elif not arg.startswith("-"):
                folders.append(arg)
        for folder in folders:
            self.disk.mkdir(folder, mode)
        return 0, ""

    def _finish(self) -> None:
        now = self.now()
        self.state["done"] = True
        self.state["finished"] = now
        self.disk.write(BOOT_FINISHED, f"{now:.2f} 93.04\n".encode(), 0o644)
        self._out(f"Cloud-init v. {VERSION} finished at {_stamp(now)}. Datasource "
                  "DataSourceDigitalOcean.  Up 93.04 seconds")

    # ------------------------------------------------------------------ cloud-init status
    def status(self, *, long: bool = False) -> tuple[str, int]:
        """(stdout, exit code) of `cloud-init status [--long]`."""
        if not self.started:
            running, errors, recoverable = "not started", [], {}
        else:
            running = "done" if self.done else "running"
            errors = list(self.state["errors"]) if self.done else []
            recoverable = dict(self.state["recoverable"])
        if errors:
            status, extended = "error", f"error - {running}"
        elif recoverable and running in ("done", "running"):
            status, extended = running, f"degraded {running}"
        else:
            status, extended = running, running
        text = f"status: {status}\n"
        if long:
            last = (f"last_update: {_stamp(float(self.state.get('finished', 0)))}\n"
                    if self.done else "")
            errs = "".join(f"\n\t- {e}" for e in errors) or " []"
            recs = ("\n" + "\n".join(f"{k}:\n\t- " + "\n\t- ".join(v)
                                     for k, v in recoverable.items())) if recoverable \
                else " {}"
            text += (f"extended_status: {extended}\nboot_status_code: enabled-by-generator\n"
                     f"{last}detail: DataSourceDigitalOcean\nerrors:{errs}\n"
                     f"recoverable_errors:{recs}\n")
        code = 1 if errors else 2 if recoverable else 0
        return text, code


__all__ = ["BOOT_FINISHED", "FirstBoot", "OUTPUT_LOG"]
