"""The authenticator (TOTP) secret as IBeam's PYOTP handler needs it.

IBeam hands the secret to `pyotp.TOTP`, which decodes it with `base64.b32decode`: upper
case, no spaces. Authenticator setups show it in groups of four, often in lower case, and
a secret copied from there used to be stored as typed and fail only on the droplet, at
IBKR's 2FA prompt (IBeam then stops; ibdesk's guard counts refused codes). So it is
normalised once, here, and anything that is still not base32 is refused before anything
is created.
"""

from __future__ import annotations

import base64
import binascii
import re

MIN_LENGTH = 16
"""80 bits; RFC 4226 asks for at least 128 (26 characters) and IBKR's are longer."""
_BASE32 = re.compile(r"[A-Z2-7]+")


def normalise_totp_secret(text: str) -> str:
    """`text` without spaces, hyphens and padding, in upper case; ValueError saying what is
    wrong when that is not a base32 secret."""
    secret = re.sub(r"[\s-]", "", text).upper().rstrip("=")
    if not secret:
        raise ValueError("it is empty")
    bad = sorted({c for c in secret if not _BASE32.fullmatch(c)})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise ValueError(f"it holds characters a base32 secret cannot ({shown}; only "
                         "letters A-Z and digits 2-7)")
    if len(secret) < MIN_LENGTH:
        raise ValueError(f"it is {len(secret)} characters long; an authenticator secret has "
                         f"at least {MIN_LENGTH}")
    try:
        base64.b32decode(secret + "=" * (-len(secret) % 8))
    except binascii.Error:
        raise ValueError("it is not valid base32 (a character is missing or extra)") from None
    return secret


__all__ = ["MIN_LENGTH", "normalise_totp_secret"]
