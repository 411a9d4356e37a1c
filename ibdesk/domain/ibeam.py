"""How IBeam is laid out on a droplet: paths, owners, fixed commands, its settings file.

Shared by the provisioner (which writes these files over SFTP and runs these commands
over SSH) and by the sandbox's simulated hosts (which read them), so that both sides
agree by construction. The facts come from IBeam v0.5.12 (DESIGN.md, "IBeam").

Why the secrets are files: IBeam reads `IBEAM_ACCOUNT` / `IBEAM_PASSWORD` as file paths
when `IBEAM_SECRETS_SOURCE=fs`. A Docker env-file cannot hold a newline and shows up in
`docker inspect`; a file readable by IBeam's user only holds any text, and IBeam reads it
as UTF-8 in text mode (so an inner CR or CRLF becomes LF) with trailing CR/LF stripped
(`secrets_handler.py`). IBeam's container runs as uid 1000 (`basic_user`, its
Dockerfile), so the secrets folder and files belong to 1000:1000 (0700/0400): root-owned
0600 files are unreadable to it, and it shuts down. The commands below are constant
strings: no secret and no user input is ever interpolated into a shell.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ibdesk.domain.models import Environment, TwoFactorHandler

UNWORKABLE_TWO_FA = {
    TwoFactorHandler.EXTERNAL_REQUEST:
        "needs IBEAM_EXTERNAL_REQUEST_URL, a service of your own that answers with the code, "
        "and ibdesk has no setting for it yet",
    TwoFactorHandler.CUSTOM_HANDLER:
        "needs a custom_two_fa_handler.py in a mounted /srv/inputs folder, which ibdesk "
        "does not mount",
    TwoFactorHandler.GOOGLE_MSG:
        "needs an interactive pairing with Google Messages on the server",
    TwoFactorHandler.NOTIFICATION_RESEND:
        "is broken in IBeam 0.5.12 (it calls a Selenium API that Selenium 4 removed)",
}
"""The 2FA handlers IBeam 0.5.12 has that cannot work as ibdesk runs IBeam, and why
(DESIGN.md, "IBeam"). PYOTP is the one ibdesk offers."""

GATEWAY_PORT = 5000
"""Client Portal gateway (HTTPS, self-signed), bound to 127.0.0.1 on the droplet."""
HEALTH_PORT = 5001
"""IBeam's health server (plain HTTP), bound to 127.0.0.1 on the droplet."""

IBEAM_IMAGE = "voyz/ibeam:0.5.12"
"""Pinned: the PYOTP 2FA handler exists from 0.5.12 on, and `latest` may change under a
running account."""
CONTAINER_UID = 1000
CONTAINER_GID = 1000
"""IBeam's container user, `basic_user` (its Dockerfile, lines 5-7 and 48)."""

CONF_DIR = "/etc/ibeam"
"""root 0700: holds the env file, which Docker reads as root."""
ENV_FILE = f"{CONF_DIR}/env.list"
SECRETS_DIR = f"{CONF_DIR}/secrets"
"""1000:1000 0700, bind-mounted read-only where IBeam finds it."""
ACCOUNT_FILE = f"{SECRETS_DIR}/account"
PASSWORD_FILE = f"{SECRETS_DIR}/password"
OUTPUTS_DIR = "/srv/ibeam/outputs"
"""1000:1000, mounted at IBeam's /srv/outputs: its log files land here."""
CONTAINER_OUTPUTS_DIR = "/srv/outputs"

SECRET_FILE_MODE = 0o400
SECRET_DIR_MODE = 0o700
ENV_FILE_MODE = 0o600

START_COMMAND = "systemctl restart ibeam"
STOP_COMMAND = "systemctl stop ibeam"
DISABLE_COMMAND = "systemctl disable ibeam"
"""The failed-login guard's second step: a reboot must not start IBeam again."""
ENABLE_COMMAND = "systemctl enable ibeam"
"""Only with a new login (a new password delivered)."""
DOCKER_STOP_COMMAND = "docker stop ibeam"
"""For a server whose IBeam is not a systemd unit (the seed's snapshot)."""
STATUS_COMMAND = "systemctl is-active ibeam"
CLOUD_INIT_STATUS_COMMAND = "cloud-init status --long"
"""Polled during the first boot: 0 running or done, 1 error, 2 done but degraded."""
CLOUD_INIT_OUTPUT_LOG = "/var/log/cloud-init-output.log"
CLOCK_COMMAND = "date -u +%s"

CONTAINER_STATE_COMMAND = "docker inspect -f {{.State.Status}} ibeam"
LOG_TAIL_SIZES = (50, 200, 1000, 5000)
"""The only `docker logs --tail N` sizes ibdesk runs: fixed strings, never a number typed
by someone reaching a shell."""


def logs_command(lines: int) -> str:
    """The fixed `docker logs` command that returns at least `lines` lines (the caller
    keeps the last `lines`). Both streams, in order: IBeam writes WARNING and above (every
    refused login, every shutdown) to stderr and the rest to stdout."""
    size = next((n for n in LOG_TAIL_SIZES if n >= lines), LOG_TAIL_SIZES[-1])
    return f"docker logs --tail {size} ibeam 2>&1"


LOG_FILE_PREFIX = "ibeam_log__"

SEED_ENV_FILE = "/root/ibeam_files/env.list"
SEED_STARTER_COMMAND = "/root/starter.sh"
"""The seed's private snapshot (image 182556282) keeps its IBeam files here."""

CLOUD_INIT_MARKER = "# ibdesk-cloud-init v2"
"""First comment line of ibdesk's user_data; the sandbox recognises it."""

DEFAULT_MAX_FAILED_AUTH = 5
"""IBeam's own default for IBEAM_MAX_FAILED_AUTH."""
MAX_IMMEDIATE_ATTEMPTS = 1
"""IBEAM_MAX_IMMEDIATE_ATTEMPTS as ibdesk sets it (IBeam's default is 10): one login
attempt per maintenance run (60 s), so that a refused 2FA code, which IBeam never counts,
is tried once a minute and not ten times, and ibdesk's guard sees each one."""
MAX_REFUSED_CODES = 2
"""ibdesk stops IBeam once IBKR has refused this many 2FA codes since IBeam started: a
right secret on a right clock has a code refused at most once (at a 30-second edge)."""


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
        f"IBEAM_MAX_IMMEDIATE_ATTEMPTS={MAX_IMMEDIATE_ATTEMPTS}",
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
    """What IBeam makes of a secret file: text mode (universal newlines: an inner CR or
    CRLF becomes LF), then trailing CR/LF removed (`secrets_handler.py`)."""
    text = raw.decode(encoding)
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\r\n")


def check_deliverable(password: str, what: str = "password") -> None:
    """Refuse what IBeam would read back differently from what was typed: a line break
    anywhere (text mode turns an inner CR into LF, and strips trailing ones) or a NUL."""
    if any(ch in password for ch in "\r\n"):
        raise ValueError(f"the {what} holds a line break (CR or LF), which IBeam would not "
                         f"read back as typed; a {what} cannot hold one")
    if "\x00" in password:
        raise ValueError(f"the {what} holds a NUL character")


__all__ = [
    "UNWORKABLE_TWO_FA",
    "ACCOUNT_FILE",
    "CLOCK_COMMAND",
    "CLOUD_INIT_MARKER",
    "CLOUD_INIT_OUTPUT_LOG",
    "CLOUD_INIT_STATUS_COMMAND",
    "CONF_DIR",
    "CONTAINER_GID",
    "CONTAINER_OUTPUTS_DIR",
    "CONTAINER_STATE_COMMAND",
    "CONTAINER_UID",
    "DISABLE_COMMAND",
    "DOCKER_STOP_COMMAND",
    "ENABLE_COMMAND",
    "ENV_FILE_MODE",
    "IBEAM_IMAGE",
    "MAX_IMMEDIATE_ATTEMPTS",
    "MAX_REFUSED_CODES",
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
