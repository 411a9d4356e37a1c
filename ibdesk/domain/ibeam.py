"""How IBeam is laid out on a droplet: paths, fixed commands, and its settings file.

Shared by the provisioner (which writes these files over SFTP and runs these commands
over SSH) and by the sandbox's simulated hosts (which read them), so that both sides
agree by construction.

Why the secrets are files: IBeam reads `IBEAM_ACCOUNT` / `IBEAM_PASSWORD` as file paths
when `IBEAM_SECRETS_SOURCE=fs`. A Docker env-file cannot hold a newline and shows up in
`docker inspect`; a root-only file holds any bytes and is read by IBeam as UTF-8 text
with trailing CR/LF stripped (`rstrip('\\r\\n')`, IBeam's own rule). The commands below
are constant strings: no secret and no user input is ever interpolated into a shell.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ibdesk.domain.models import Environment, TwoFactorHandler

GATEWAY_PORT = 5000
"""Client Portal gateway (HTTPS, self-signed), bound to 127.0.0.1 on the droplet."""
HEALTH_PORT = 5001
"""IBeam's health server (plain HTTP), bound to 127.0.0.1 on the droplet."""

CONF_DIR = "/etc/ibeam"
ENV_FILE = f"{CONF_DIR}/env.list"
SECRETS_DIR = f"{CONF_DIR}/secrets"
ACCOUNT_FILE = f"{SECRETS_DIR}/account"
PASSWORD_FILE = f"{SECRETS_DIR}/password"
OUTPUTS_DIR = "/srv/ibeam/outputs"
"""Mounted at IBeam's /srv/outputs: its log files land here."""

SECRET_FILE_MODE = 0o600
SECRET_DIR_MODE = 0o700

START_COMMAND = "systemctl restart ibeam"
STOP_COMMAND = "systemctl stop ibeam"
STATUS_COMMAND = "systemctl is-active ibeam"
CLOUD_INIT_WAIT_COMMAND = "cloud-init status --wait"
CLOCK_COMMAND = "date -u +%s"

CONTAINER_STATE_COMMAND = "docker inspect -f {{.State.Status}} ibeam"
LOG_TAIL_SIZES = (50, 200, 1000, 5000)
"""The only `docker logs --tail N` sizes ibdesk runs: fixed strings, never a number typed
by someone reaching a shell."""


def logs_command(lines: int) -> str:
    """The fixed `docker logs` command that returns at least `lines` lines (the caller
    keeps the last `lines`)."""
    size = next((n for n in LOG_TAIL_SIZES if n >= lines), LOG_TAIL_SIZES[-1])
    return f"docker logs --tail {size} ibeam"


LOG_FILE_PREFIX = "ibeam_log__"

SEED_ENV_FILE = "/root/ibeam_files/env.list"
SEED_STARTER_COMMAND = "/root/starter.sh"
"""The seed's private snapshot (image 182556282) keeps its IBeam files here."""

CLOUD_INIT_MARKER = "# ibdesk-cloud-init v1"
"""First comment line of ibdesk's user_data; the sandbox recognises it."""

DEFAULT_MAX_FAILED_AUTH = 5
"""IBeam's own default for IBEAM_MAX_FAILED_AUTH."""


class IBeamSettings(BaseModel):
    """The non-secret part of IBeam's configuration for one account."""

    model_config = ConfigDict(frozen=True)

    environment: Environment
    two_fa_handler: TwoFactorHandler | None = None
    max_failed_auth: int = DEFAULT_MAX_FAILED_AUTH
    account_file: str = ACCOUNT_FILE
    password_file: str = PASSWORD_FILE

    @property
    def paper(self) -> bool:
        return self.environment is Environment.PAPER


def render_env_list(settings: IBeamSettings, *, totp_secret: str | None = None) -> str:
    """IBeam's Docker env-file. Holds file paths and flags; the TOTP secret (base32, no
    newline) is the one secret that IBeam only reads from the environment, so this file
    is written root-only like the secret files."""
    lines = [
        "IBEAM_SECRETS_SOURCE=fs",
        f"IBEAM_ACCOUNT={settings.account_file}",
        f"IBEAM_PASSWORD={settings.password_file}",
        f"IBEAM_USE_PAPER_ACCOUNT={'True' if settings.paper else 'False'}",
        f"IBEAM_MAX_FAILED_AUTH={settings.max_failed_auth}",
        f"IBEAM_HEALTH_SERVER_PORT={HEALTH_PORT}",
        "IBEAM_LOG_TO_FILE=True",
    ]
    if settings.two_fa_handler is not None:
        lines.append(f"IBEAM_TWO_FA_HANDLER={settings.two_fa_handler.value}")
        if totp_secret:
            if any(ch in totp_secret for ch in "\r\n"):
                raise ValueError("a TOTP secret cannot hold a line break")
            lines.append(f"IBEAM_PYOTP_SECRET={totp_secret}")
    return "\n".join(lines) + "\n"


def render_seed_env_list(settings: IBeamSettings, *, username: str, password: str,
                         totp_secret: str | None = None) -> str:
    """The seed snapshot's /root/ibeam_files/env.list: its starter.sh passes only this
    env-file to the container, so here the secrets are values, in a root-only file. An
    env-file line cannot hold a line break, hence the check."""
    for name, value in (("username", username), ("password", password)):
        if any(ch in value for ch in "\r\n\x00"):
            raise ValueError(f"the {name} holds a line break, which the seed image's settings "
                             "file cannot carry; use the stock image instead")
    lines = [f"IBEAM_ACCOUNT={username}", f"IBEAM_PASSWORD={password}"]
    for line in render_env_list(settings, totp_secret=totp_secret).splitlines():
        if not line.startswith(("IBEAM_SECRETS_SOURCE=", "IBEAM_ACCOUNT=", "IBEAM_PASSWORD=")):
            lines.append(line)
    return "\n".join(lines) + "\n"


def parse_env_list(text: str) -> dict[str, str]:
    """Docker env-file rules: `KEY=VALUE` per line, `#` comments, no quoting."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value
    return values


def read_secret_text(raw: bytes, encoding: str = "utf-8") -> str:
    """What IBeam makes of a secret file: decoded text with trailing CR/LF removed."""
    return raw.decode(encoding).rstrip("\r\n")


def check_deliverable(password: str) -> None:
    """Refuse a password IBeam would read back differently from what was typed."""
    if password != password.rstrip("\r\n"):
        raise ValueError("the password ends with a line break, which IBeam removes when "
                         "it reads the password")
    if "\x00" in password:
        raise ValueError("the password holds a NUL character")


__all__ = [
    "ACCOUNT_FILE",
    "CLOCK_COMMAND",
    "CLOUD_INIT_MARKER",
    "CLOUD_INIT_WAIT_COMMAND",
    "CONF_DIR",
    "CONTAINER_STATE_COMMAND",
    "LOG_FILE_PREFIX",
    "LOG_TAIL_SIZES",
    "logs_command",
    "DEFAULT_MAX_FAILED_AUTH",
    "ENV_FILE",
    "GATEWAY_PORT",
    "HEALTH_PORT",
    "IBeamSettings",
    "OUTPUTS_DIR",
    "PASSWORD_FILE",
    "SECRETS_DIR",
    "SECRET_DIR_MODE",
    "SECRET_FILE_MODE",
    "SEED_ENV_FILE",
    "SEED_STARTER_COMMAND",
    "START_COMMAND",
    "STATUS_COMMAND",
    "STOP_COMMAND",
    "check_deliverable",
    "parse_env_list",
    "read_secret_text",
    "render_env_list",
    "render_seed_env_list",
]
