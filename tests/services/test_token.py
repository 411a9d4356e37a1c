from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from ibdesk.domain.errors import CloudAuthError, KeyringUnavailable
from ibdesk.secrets import DO_TOKEN
from ibdesk.services import Runtime, TokenService, open_runtime
from tests import spec
from tests.helpers import CANARY_TOKEN, MemoryKeyring

API = "https://do.test"
ACCOUNT = spec.sample("account/account_get.yml", 200)[0]


@pytest.fixture
def rt(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("IBDESK_DO_API_URL", API)
    runtime = open_runtime()
    yield runtime
    runtime.close()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


async def test_set_validates_then_stores(rt: Runtime, api: respx.MockRouter,
                                         memory_keyring: MemoryKeyring) -> None:
    api.get("/v2/account").respond(200, json=ACCOUNT)
    account = await TokenService(rt).set(f"  {CANARY_TOKEN}\n")
    assert account.droplet_limit == 25
    assert rt.secrets.get(DO_TOKEN) == CANARY_TOKEN


async def test_refused_token_keeps_the_old_one(rt: Runtime, api: respx.MockRouter) -> None:
    rt.secrets.set(DO_TOKEN, "old-good-token")
    api.get("/v2/account").respond(401, json=spec.error_example("unauthorized"))
    with pytest.raises(CloudAuthError):
        await TokenService(rt).set("typo")
    assert rt.secrets.get(DO_TOKEN) == "old-good-token"


async def test_check_without_token(rt: Runtime) -> None:
    with pytest.raises(CloudAuthError, match="No DigitalOcean API token is stored"):
        await TokenService(rt).check()


async def test_empty_token(rt: Runtime) -> None:
    with pytest.raises(CloudAuthError, match="empty"):
        await TokenService(rt).set("   ")


async def test_environment_token_moves_into_keyring(monkeypatch: pytest.MonkeyPatch,
                                                    api: respx.MockRouter, home: Path) -> None:
    monkeypatch.setenv("IBDESK_DO_API_URL", API)
    monkeypatch.setenv("DIGITAL_OCEAN_API_KEY", CANARY_TOKEN)
    rt = open_runtime()
    route = api.get("/v2/account").respond(200, json=ACCOUNT)
    tokens = TokenService(rt)
    assert rt.secrets.get(DO_TOKEN) is None
    await tokens.check()
    assert rt.secrets.get(DO_TOKEN) == CANARY_TOKEN
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {CANARY_TOKEN}"
    assert tokens.import_from_environment() is False  # already there
    rt.repository  # noqa: B018 - create the database too
    rt.close()
    for path in home.rglob("*"):
        if path.is_file():
            assert CANARY_TOKEN.encode() not in path.read_bytes(), path


def test_clear(rt: Runtime) -> None:
    rt.secrets.set(DO_TOKEN, "x")
    assert TokenService(rt).clear() is True
    assert TokenService(rt).clear() is False


async def test_missing_keyring_is_said_before_the_network(rt: Runtime,
                                                          api: respx.MockRouter) -> None:
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    route = api.get("/v2/account").respond(200, json=ACCOUNT)
    with pytest.raises(KeyringUnavailable):
        await TokenService(rt).set(CANARY_TOKEN)
    assert not route.called
