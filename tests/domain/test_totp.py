from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibdesk.domain.totp import normalise_totp_secret


@given(st.binary(min_size=10, max_size=40), st.booleans(), st.integers(1, 8))
def test_any_secret_as_an_authenticator_shows_it_comes_back_as_pyotp_needs_it(
        raw: bytes, lower: bool, group: int) -> None:
    secret = base64.b32encode(raw).decode().rstrip("=")
    shown = " ".join(secret[i:i + group] for i in range(0, len(secret), group))
    assert normalise_totp_secret(shown.lower() if lower else shown) == secret


@pytest.mark.parametrize("bad", ["", "   ", "JBSWY3DP", "JBSWY3DPEHPK3PX!", "ÄBSWY3DPEHPK3PXP"])
def test_what_is_not_a_secret_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_totp_secret(bad)
