"""The SSH key's cryptography (asyncssh): making an ed25519 key and reading its public
half and DigitalOcean's fingerprint of it. Where the key is kept and registered is the
services' `keys` module."""

from __future__ import annotations

import asyncssh


def new_private_key() -> str:
    """A fresh ed25519 private key, as OpenSSH's text."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="ibdesk")
    return key.export_private_key().decode()


def public_key(private_text: str) -> str:
    """The one-line OpenSSH public key of a private key's text."""
    return asyncssh.import_private_key(private_text).export_public_key().decode().strip()


def md5_fingerprint(private_text: str) -> str:
    """DigitalOcean's form of the fingerprint: MD5, colon-separated hex."""
    key = asyncssh.import_private_key(private_text)
    return key.get_fingerprint("md5").removeprefix("MD5:")


__all__ = ["md5_fingerprint", "new_private_key", "public_key"]
