"""Use cases, async and Qt-free; the CLI and the window both call these."""

from typing import TYPE_CHECKING, Any

from ibdesk.services.runtime import Runtime, SandboxInfo, open_runtime

if TYPE_CHECKING:
    from ibdesk.services.token import TokenService


def __getattr__(name: str) -> Any:  # TokenService pulls in HTTP: load it when asked for
    if name == "TokenService":
        from ibdesk.services.token import TokenService

        return TokenService
    raise AttributeError(name)


__all__ = ["Runtime", "SandboxInfo", "TokenService", "open_runtime"]
