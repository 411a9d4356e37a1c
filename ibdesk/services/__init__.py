"""Use cases, async and Qt-free; the CLI and the window both call these."""

from ibdesk.services.runtime import Runtime, open_runtime
from ibdesk.services.token import TokenService

__all__ = ["Runtime", "TokenService", "open_runtime"]
