"""The DigitalOcean token: validate it, keep it in the keyring, check it, forget it.

A token is stored only after DigitalOcean accepted it (`GET /v2/account`), so a typo
never replaces a working token. The seed's `DIGITAL_OCEAN_API_KEY` environment variable
still works: on first use its value is moved into the keyring, and from then on the
keyring is the only place ibdesk reads it from.
"""

from __future__ import annotations

import logging

from ibdesk.cloud import DOAccount
from ibdesk.domain.errors import CloudAuthError
from ibdesk.secrets import DO_TOKEN
from ibdesk.services.runtime import Runtime

log = logging.getLogger(__name__)

NO_TOKEN = ("No DigitalOcean API token is stored. Create one in DigitalOcean (API → Tokens, "
            "read and write scope) and run `ibdesk token set --stdin`.")


class TokenService:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def import_from_environment(self) -> bool:
        """Move DIGITAL_OCEAN_API_KEY into the keyring when it is new there."""
        key = self._rt.settings.api_key
        if key is None:
            return False
        value = key.get_secret_value().strip()
        if not value or self._rt.secrets.get(DO_TOKEN) == value:
            return False
        self._rt.secrets.set(DO_TOKEN, value)
        log.info("moved DIGITAL_OCEAN_API_KEY from the environment into the keyring")
        return True

    def stored(self) -> str | None:
        self.import_from_environment()
        return self._rt.secrets.get(DO_TOKEN)

    def require(self) -> str:
        token = self.stored()
        if not token:
            raise CloudAuthError(NO_TOKEN)
        return token

    async def validate(self, token: str) -> DOAccount:
        token = token.strip()
        if not token:
            raise CloudAuthError("The token is empty. Paste the whole DigitalOcean API token.")
        async with self._rt.cloud(token) as client:
            return await client.get_account()

    async def set(self, token: str) -> DOAccount:
        """Validate, then store; a refused token leaves the stored one in place."""
        self._rt.secrets.check()  # a missing keyring is said before any network call
        account = await self.validate(token)
        self._rt.secrets.set(DO_TOKEN, token.strip())
        return account

    async def check(self) -> DOAccount:
        return await self.validate(self.require())

    def clear(self) -> bool:
        return self._rt.secrets.delete(DO_TOKEN)


__all__ = ["NO_TOKEN", "TokenService"]
