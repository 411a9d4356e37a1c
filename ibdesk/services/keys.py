"""The app's own SSH key: one ed25519 key, made once, private half only in the keyring.

Its public half is registered with DigitalOcean once per token and found again by its
fingerprint, so connecting ten accounts never registers ten keys.
"""

from __future__ import annotations

from ibdesk.cloud import DigitalOceanClient
from ibdesk.domain.errors import InvalidRequest, NotFound
from ibdesk.gateway.keys import md5_fingerprint, new_private_key, public_key
from ibdesk.secrets import SSH_PRIVATE_KEY, SecretStore

KEY_NAME = "ibdesk"


class AppKey:
    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

    def private_key(self) -> str:
        """The OpenSSH private key text, made and stored on first use."""
        text = self._secrets.get(SSH_PRIVATE_KEY)
        if text:
            return text
        text = new_private_key()
        self._secrets.set(SSH_PRIVATE_KEY, text)
        return text

    def public_key(self) -> str:
        return public_key(self.private_key())

    def fingerprint(self) -> str:
        """DigitalOcean's form: MD5, colon-separated hex."""
        return md5_fingerprint(self.private_key())

    async def ensure_registered(self, client: DigitalOceanClient) -> int:
        """The key's id at DigitalOcean, registering it only if it is not there yet."""
        fingerprint = self.fingerprint()
        try:
            found = await client.get_ssh_key(fingerprint)
        except NotFound:
            try:
                found = await client.create_ssh_key(KEY_NAME, self.public_key())
            except InvalidRequest:  # registered meanwhile (another ibdesk, a race)
                found = await client.get_ssh_key(fingerprint)
        assert found.id is not None
        return found.id


__all__ = ["KEY_NAME", "AppKey"]
