"""Reading `cloud-init status --long`: is the droplet's first boot done, and how did it go.

cloud-init 23.4 and later (Ubuntu 24.04's is 24.x) exit 0 while running or done, 1 on an
error, and **2 when the boot completed but degraded** (a recoverable error such as a
deprecated or unknown key; cloudinit/cmd/status.py). A degraded boot did everything it
was asked: ibdesk carries on and keeps the long output in its log and the progress
shown, instead of calling it a failed first boot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CloudInitStatus:
    status: str
    """`not started`, `running`, `done`, `error` or `disabled`."""
    extended: str
    """`degraded done`, `error - done`, … (the extended_status line)."""
    errors: tuple[str, ...]
    recoverable: tuple[str, ...]
    exit_code: int
    text: str

    @property
    def finished(self) -> bool:
        return self.status in ("done", "error", "disabled")

    @property
    def failed(self) -> bool:
        return self.status == "error" or (self.exit_code == 1 and self.finished)

    @property
    def degraded(self) -> bool:
        return "degraded" in self.extended or (self.exit_code == 2 and bool(self.recoverable))


def parse_status(text: str, exit_code: int) -> CloudInitStatus:
    status, extended = "", ""
    errors: list[str] = []
    recoverable: list[str] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if raw.startswith(("\t", " ")) and line.startswith("- "):
            (errors if section == "errors" else recoverable).append(line[2:])
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "status":
            status = value
        elif key == "extended_status":
            extended = value
        elif key == "errors":
            section = "errors"
        elif key == "recoverable_errors":
            section = "recoverable"
        elif section == "recoverable" and not value:
            continue  # a level heading (WARNING:, DEPRECATED:)
    return CloudInitStatus(status or "unknown", extended or status, tuple(errors),
                           tuple(recoverable), exit_code, text.strip())


__all__ = ["CloudInitStatus", "parse_status"]
