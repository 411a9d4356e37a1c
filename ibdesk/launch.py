"""Building the runtime a front end (the CLI or the window) works with, real or sandbox."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ibdesk.services.runtime import Runtime, open_runtime


@contextlib.contextmanager
def sandbox_runtime(home: str | None) -> Iterator[Runtime]:
    """A runtime wired to an in-process sandbox with its own data folder and keyring
    service, so that sandbox accounts never mix with real ones."""

    from ibdesk.domain.errors import KeyringUnavailable
    from ibdesk.paths import sandbox_home
    from ibdesk.sandbox import SandboxOptions
    from ibdesk.sandbox.keyring import SandboxFileKeyring
    from ibdesk.sandbox.runner import SandboxThread
    from ibdesk.secrets import DO_TOKEN, SecretStore
    from ibdesk.services.runtime import SandboxInfo

    folder = sandbox_home(home)
    folder.mkdir(parents=True, exist_ok=True)
    with SandboxThread(SandboxOptions(state=folder / "sandbox-world.json")) as sandbox:
        rt = open_runtime(folder, do_api_url=sandbox.api_url, api_key=None,
                          sandbox_ssh_map_url=sandbox.ssh_map_url,
                          public_ip_url=sandbox.public_ip_url,
                          keyring_service="ibdesk-sandbox")
        note = None
        try:
            rt.secrets.check()
        except KeyringUnavailable:
            store = folder / "sandbox-secrets.json"
            rt.secrets = SecretStore(rt.settings.keyring_service,
                                     backend=SandboxFileKeyring(store))
            note = (f"No system keyring here: the sandbox keeps its own fake secrets in {store} "
                    "(sandbox mode only; real accounts need a keyring).")
        rt.secrets.set(DO_TOKEN, sandbox.token)
        demo = sandbox.users.users[0]
        rt.sandbox = SandboxInfo(sandbox.api_url, demo.username, demo.password, note)
        try:
            yield rt
        finally:
            rt.close()


@contextlib.contextmanager
def runtime(home: str | None, *, sandbox: bool) -> Iterator[Runtime]:
    if sandbox:
        with sandbox_runtime(home) as rt:
            yield rt
        return
    rt = open_runtime(home)
    try:
        yield rt
    finally:
        rt.close()


__all__ = ["runtime", "sandbox_runtime"]
