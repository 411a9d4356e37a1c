from __future__ import annotations

from pathlib import Path

import pytest

from ibdesk.config import DEFAULT_API_URL, load_settings, resolve_home
from ibdesk.domain.errors import ConfigError
from tests.helpers import CANARY_TOKEN


def test_seed_defaults(home: Path) -> None:
    s = load_settings()
    assert (s.region, s.size, s.image_id) == ("nyc1", "s-1vcpu-1gb", "182556282")
    assert s.home == home
    assert s.do_api_url == DEFAULT_API_URL
    assert s.effective_database_url == f"sqlite:///{home / 'ibdesk.sqlite3'}"
    assert s.api_key is None


def test_home_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IBDESK_HOME", str(tmp_path / "env"))
    assert resolve_home(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_home() == tmp_path / "env"
    monkeypatch.delenv("IBDESK_HOME")
    assert "ibdesk" in str(resolve_home())


def test_seed_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITAL_OCEAN_REGION", "ams3")
    monkeypatch.setenv("DIGITAL_OCEAN_SIZE", "s-2vcpu-2gb")
    monkeypatch.setenv("DIGITAL_OCEAN_IMAGE_ID", "docker-20-04")
    monkeypatch.setenv("IBDESK_DO_API_URL", "http://127.0.0.1:8080/")
    s = load_settings()
    assert (s.region, s.size, s.image_id) == ("ams3", "s-2vcpu-2gb", "docker-20-04")
    assert s.do_api_url == "http://127.0.0.1:8080"


def test_toml_file_below_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(parents=True)
    (home / "settings.toml").write_text('region = "fra1"\nsize = "s-1vcpu-2gb"\n'
                                        "http_timeout = 12.5\n")
    s = load_settings()
    assert (s.region, s.size, s.http_timeout) == ("fra1", "s-1vcpu-2gb", 12.5)
    monkeypatch.setenv("DIGITAL_OCEAN_REGION", "sgp1")
    assert load_settings().region == "sgp1"
    assert load_settings(region="lon1").region == "lon1"


@pytest.mark.parametrize(("env", "value", "named"), [
    ("DIGITAL_OCEAN_REGION", "New York", "DIGITAL_OCEAN_REGION"),
    ("DIGITAL_OCEAN_SIZE", "S 1", "DIGITAL_OCEAN_SIZE"),
    ("DIGITAL_OCEAN_IMAGE_ID", "ubuntu 22", "DIGITAL_OCEAN_IMAGE_ID"),
    ("IBDESK_DO_API_URL", "ftp://x", "IBDESK_DO_API_URL"),
    ("IBDESK_HTTP_TIMEOUT", "-1", "IBDESK_HTTP_TIMEOUT"),
    ("IBDESK_LOG_LEVEL", "LOUD", "IBDESK_LOG_LEVEL"),
])
def test_invalid_environment_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, env: str,
                                                     value: str, named: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.user_message
    assert message.startswith(f"Setting {named} is invalid")
    assert "\n" not in message


def test_invalid_toml_value_names_the_setting(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "settings.toml").write_text('size = "??"\n')
    with pytest.raises(ConfigError, match="Setting DIGITAL_OCEAN_SIZE is invalid"):
        load_settings()


def test_unknown_or_broken_toml(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "settings.toml").write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_settings()
    (home / "settings.toml").write_text("region = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_token_is_read_from_environment_only(home: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITAL_OCEAN_API_KEY", CANARY_TOKEN)
    s = load_settings()
    assert s.api_key is not None and s.api_key.get_secret_value() == CANARY_TOKEN
    assert CANARY_TOKEN not in repr(s) and CANARY_TOKEN not in s.model_dump_json()
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.toml").write_text(f'DIGITAL_OCEAN_API_KEY = "{CANARY_TOKEN}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "keyring" in info.value.user_message
    assert CANARY_TOKEN not in info.value.user_message


@pytest.mark.parametrize("line", ['my_token = "{v}"', 'do_key = "{v}"', 'region = "{v}"'])
def test_a_token_under_a_key_ibdesk_does_not_expect_is_never_echoed(home: Path,
                                                                    line: str) -> None:
    """Under an unknown key, or pasted into a setting's place, a token was printed in full
    in the error (issue 13, point 11); now the error names the line, never the value."""
    value = "canary-not-token-shaped-Zq81x"
    home.mkdir(parents=True, exist_ok=True)
    for secret in (value, CANARY_TOKEN):
        (home / "settings.toml").write_text(line.format(v=secret) + "\n")
        with pytest.raises(ConfigError) as info:
            load_settings()
        message = info.value.user_message
        assert line.split(" =")[0] in message
        if not line.startswith("region"):  # unknown key: the value is never shown
            assert secret not in message and "not an ibdesk setting" in message
        assert CANARY_TOKEN not in message


def test_every_setting_has_its_environment_name_from_one_place() -> None:
    """The names come from each field's alias (once written out here and in the monitor
    worker's start as well): every field has one, in the documented shape."""
    from ibdesk.config import Settings

    assert set(Settings.ENV_NAMES) == set(Settings.model_fields)
    assert Settings.ENV_NAMES["api_key"] == "DIGITAL_OCEAN_API_KEY"
    assert Settings.ENV_NAMES["check_interval"] == "IBDESK_CHECK_INTERVAL"
    assert all(n.startswith(("IBDESK_", "DIGITAL_OCEAN_")) for n in Settings.ENV_NAMES.values())


def test_budget_and_quiet_hours(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IBDESK_BUDGET", "25.5")
    monkeypatch.setenv("IBDESK_QUIET_HOURS", " 22:00 - 07:00 ")
    settings = load_settings()
    assert settings.budget_monthly == 25.5 and settings.quiet_hours == "22:00-07:00"
    monkeypatch.setenv("IBDESK_QUIET_HOURS", "night")
    with pytest.raises(ConfigError, match="IBDESK_QUIET_HOURS is invalid.*22:00-07:00"):
        load_settings()
    monkeypatch.delenv("IBDESK_QUIET_HOURS")
    monkeypatch.setenv("IBDESK_BUDGET", "-3")
    with pytest.raises(ConfigError, match="IBDESK_BUDGET is invalid"):
        load_settings()
