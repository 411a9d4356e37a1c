"""Settings: defaults < `settings.toml` in the data dir < environment < explicit values.

The seed's environment names (`DIGITAL_OCEAN_REGION`, …) keep working; ibdesk's own
settings use the `IBDESK_` prefix. The data dir itself (`IBDESK_HOME`, `--home`) is
decided first, because the settings file lives in it.

`DIGITAL_OCEAN_API_KEY` is read from the environment only, so that it can be moved into
the keyring (services.token); it is refused in `settings.toml` and never written.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ibdesk.domain.cadence import CADENCE, ERROR_BOUNDS, STEADY_BOUNDS
from ibdesk.domain.errors import ConfigError
from ibdesk.domain.redaction import redact
from ibdesk.paths import default_home, resolve_home
from ibdesk.private_files import create_private

SETTINGS_FILE = "settings.toml"
DEFAULT_API_URL = "https://api.digitalocean.com"

_REGION = re.compile(r"^[a-z]{3}[0-9]$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_IMAGE = re.compile(r"^([0-9]+|[a-z0-9][a-z0-9.-]*[a-z0-9])$")


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting, with the name a person sets it by in `alias` (shown in errors)."""

    model_config = SettingsConfigDict(
        env_prefix="",
        case_sensitive=False,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        frozen=True,
    )
    #: Field → its environment variable (the first name of its alias), shown in error
    #: messages and passed to the monitor worker; keys of settings.toml are field names.
    #: Filled from the fields below, once the class exists.
    ENV_NAMES: ClassVar[dict[str, str]] = {}

    home: Path = Field(default_factory=default_home, validation_alias=_env("IBDESK_HOME", "home"))
    do_api_url: str = Field(DEFAULT_API_URL,
                            validation_alias=_env("IBDESK_DO_API_URL", "do_api_url"))
    database_url: str | None = Field(None,
                                     validation_alias=_env("IBDESK_DATABASE_URL", "database_url"))
    keyring_service: str = Field(
        "ibdesk", validation_alias=_env("IBDESK_KEYRING_SERVICE", "keyring_service"))
    region: str = Field("nyc1", validation_alias=_env("DIGITAL_OCEAN_REGION", "region"))
    size: str = Field("s-1vcpu-1gb", validation_alias=_env("DIGITAL_OCEAN_SIZE", "size"))
    image_id: str = Field("182556282", validation_alias=_env("DIGITAL_OCEAN_IMAGE_ID", "image_id"))
    demo_size: str = Field("s-1vcpu-512mb-10gb",
                           validation_alias=_env("DIGITAL_OCEAN_DEMO_SIZE", "demo_size"))
    """A demo login needs less: the smallest droplet, with swap added by cloud-init."""
    api_key: SecretStr | None = Field(None, validation_alias=_env("DIGITAL_OCEAN_API_KEY"),
                                      exclude=True, repr=False)
    http_timeout: float = Field(30.0, gt=0, le=600,
                                validation_alias=_env("IBDESK_HTTP_TIMEOUT", "http_timeout"))
    log_level: str = Field("INFO", validation_alias=_env("IBDESK_LOG_LEVEL", "log_level"))
    sandbox_ssh_map_url: str | None = Field(
        None, validation_alias=_env("IBDESK_SANDBOX_SSH_MAP_URL", "sandbox_ssh_map_url"))
    """Set only by the sandbox: where a droplet address's simulated SSH port is looked up.
    Unset (always, outside the sandbox), SSH goes to the droplet's address, port 22."""
    public_ip_url: str = Field(
        "https://api.ipify.org", validation_alias=_env("IBDESK_PUBLIC_IP_URL", "public_ip_url"))
    """Answers the workstation's public address as plain text (for the firewall rule)."""

    check_interval: float = Field(
        CADENCE.steady, ge=STEADY_BOUNDS.low, le=STEADY_BOUNDS.high,
        validation_alias=_env("IBDESK_CHECK_INTERVAL", "check_interval"))
    """Seconds between checks of a running or stopped account (accounts in transition are
    looked at every `CADENCE.fast` seconds)."""
    check_interval_error: float = Field(
        CADENCE.error, ge=ERROR_BOUNDS.low, le=ERROR_BOUNDS.high,
        validation_alias=_env("IBDESK_CHECK_INTERVAL_ERROR", "check_interval_error"))
    metrics_port: int | None = Field(
        None, ge=1, le=65535,
        validation_alias=_env("IBDESK_METRICS_PORT", "metrics_port"))
    """Serve Prometheus metrics on 127.0.0.1 at this port while the monitor runs (the
    window's monitor worker, `ibdesk watch`); unset: no endpoint."""
    budget_monthly: float | None = Field(
        None, gt=0, le=1_000_000,
        validation_alias=_env("IBDESK_BUDGET", "budget_monthly"))
    """A monthly budget in USD for all the servers: the window warns when the month is on
    course to exceed it, and an alert goes out when it is exceeded; unset: none."""
    quiet_hours: str | None = Field(
        None, validation_alias=_env("IBDESK_QUIET_HOURS", "quiet_hours"))
    """Local hours in which outgoing alerts wait (`22:00-07:00`); sent when they end, a
    recovery meanwhile cancelling its alert. Desktop notifications are not held."""

    _toml_path: ClassVar[Path | None] = None

    @field_validator("do_api_url", "sandbox_ssh_map_url", "public_ip_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+(:[0-9]+)?(/.*)?$", value):
            raise ValueError("must be an http(s) URL such as https://api.digitalocean.com")
        return value.rstrip("/")

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            first, second = value.replace(" ", "").split("-")
            time.fromisoformat(first), time.fromisoformat(second)
        except ValueError:
            raise ValueError("must be a range of local hours such as 22:00-07:00") from None
        if first == second:
            raise ValueError("must be a range of local hours such as 22:00-07:00")
        return f"{first}-{second}"

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("must be a DigitalOcean region slug such as nyc1, ams3 or sgp1")
        return value

    @field_validator("size", "demo_size")
    @classmethod
    def _check_size(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("must be a DigitalOcean size slug such as s-1vcpu-1gb")
        return value

    @field_validator("image_id", mode="before")
    @classmethod
    def _check_image(cls, value: Any) -> str:
        text = str(value)
        if not _IMAGE.match(text):
            raise ValueError("must be an image id (digits) or an image slug such as "
                             "ubuntu-24-04-x64")
        return text

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_path is not None and cls._toml_path.exists():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)

    @property
    def settings_file(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def database_path(self) -> Path:
        return self.home / "ibdesk.sqlite3"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.database_path}"


Settings.ENV_NAMES.update({
    name: str(field.validation_alias.choices[0])
    for name, field in Settings.model_fields.items()
    if isinstance(field.validation_alias, AliasChoices)})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The settings file {path} is not valid TOML: {exc}.",
                          path=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"The settings file {path} cannot be read: {exc.strerror}.",
                          path=str(path)) from exc


def load_settings(home: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Settings for `home` (see `resolve_home`), or one ConfigError naming the setting."""
    path = resolve_home(home)
    toml_file = path / SETTINGS_FILE
    if toml_file.exists():
        data = _read_toml(toml_file)
        secret_keys = {"api_key", "DIGITAL_OCEAN_API_KEY", "digital_ocean_api_key"} & set(data)
        if secret_keys:
            raise ConfigError(
                f"{toml_file} holds the DigitalOcean token ({sorted(secret_keys)[0]}). Remove "
                "that line: ibdesk keeps the token in the system keyring (`ibdesk token set`).",
                path=str(toml_file))
    bound = cast(type[Settings], type("Settings", (Settings,), {"_toml_path": toml_file}))
    try:
        return bound(home=path, **overrides)
    except ValidationError as exc:
        raise _config_error(exc, toml_file) from None


EDITABLE = ("region", "size", "demo_size", "image_id", "check_interval",
            "check_interval_error", "metrics_port", "budget_monthly", "quiet_hours")
"""What the Settings dialog may write to settings.toml."""


def overridden_by_environment(field: str) -> str | None:
    """The environment variable that currently decides `field` (a file value is then
    ignored), or None."""
    name = Settings.ENV_NAMES.get(field)
    return name if name and os.environ.get(name) else None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(ch) < 32 for ch in escaped):
        raise ConfigError("A setting cannot hold control characters.")
    return f'"{escaped}"'


def save_settings(settings: Settings, changes: dict[str, Any]) -> Settings:
    """Write `changes` (fields of EDITABLE) into settings.toml, keeping its other lines'
    values; validated first, written whole (temporary file, then rename). Returns the
    settings with the changes applied, or raises ConfigError naming the bad one."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ConfigError(f"These settings cannot be changed here: {sorted(unknown)}.")
    toml_file = settings.settings_file
    current = _read_toml(toml_file) if toml_file.exists() else {}
    # None takes the setting out of the file (TOML has no null): back to its default
    merged = {k: v for k, v in {**current, **changes}.items() if v is not None}
    try:
        updated = settings.model_validate({**settings.model_dump(), **changes})
        Settings.model_validate({"home": settings.home, **{
            k: v for k, v in merged.items() if k in Settings.model_fields}})
    except ValidationError as exc:
        raise _config_error(exc, toml_file) from None
    lines = ["# ibdesk settings (written by the Settings dialog; edit freely)"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in merged.items()]
    toml_file.parent.mkdir(parents=True, exist_ok=True)
    temp = toml_file.with_name(toml_file.name + ".new")
    create_private(temp)
    temp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    temp.replace(toml_file)
    return updated


def _config_error(exc: ValidationError, toml_file: Path) -> ConfigError:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    name = Settings.ENV_NAMES.get(field, field)
    for key, env in Settings.ENV_NAMES.items():
        if field in (key, env) or field.upper() == env:
            name = env
            field = key
    reason = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    if first.get("type") == "extra_forbidden":
        # never echo the value: a key ibdesk does not know may well hold a token
        return ConfigError(
            f"{toml_file} has a line `{field} = …` that is not an ibdesk setting. Remove it "
            "(its value is not shown here: it may be a secret; a DigitalOcean token belongs "
            "in the keyring, `ibdesk token set`).", setting=field, path=str(toml_file))
    shown = "" if field == "api_key" or isinstance(value, dict) else \
        f" (got {redact(repr(value))})"  # a token pasted into the wrong field stays hidden
    return ConfigError(
        f"Setting {name} is invalid{shown}: {reason}. Set it in the environment or as "
        f"`{field}` in {toml_file}.",
        setting=name,
    )


__all__ = ["DEFAULT_API_URL", "EDITABLE", "SETTINGS_FILE", "Settings", "default_home",
           "load_settings", "overridden_by_environment", "resolve_home", "save_settings"]
