"""Use cases, async and Qt-free; the CLI and the window both call these."""

from ibdesk.services.runtime import Runtime, SandboxInfo, open_runtime
from ibdesk.services.token import TokenService

__all__ = ["Runtime", "SandboxInfo", "TokenService", "open_runtime"]
