"""Redaction: known values and credential shapes never survive."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from ibdesk.domain.redaction import MASK, redact

PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
       "AAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ\n-----END OPENSSH PRIVATE KEY-----")


@settings(max_examples=150)
@given(secret=st.text(min_size=4, max_size=40).filter(lambda s: s.strip() == s and s.strip()),
       before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_known_value_never_survives(secret: str, before: str, after: str) -> None:
    text = f"{before}{secret}{after}"
    assert secret not in redact(text, [secret]) or secret in MASK


def test_credential_shapes() -> None:
    token = "dop_v1_" + "ab12" * 16
    text = (f"auth {token}; Authorization: Bearer abcdefghijklmnop123; {PEM}; "
            "IBEAM_PASSWORD=hunter22 IBEAM_PYOTP_SECRET=JBSWY3DPEHPK3PXP "
            "session 0123456789abcdef0123456789abcdef")
    out = redact(text)
    for secret in (token, "abcdefghijklmnop123", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
                   "hunter22", "JBSWY3DPEHPK3PXP", "0123456789abcdef0123456789abcdef"):
        assert secret not in out, secret


def test_ordinary_text_is_kept() -> None:
    text = ("IBEAM_PASSWORD=/etc/ibeam/secrets/password IBEAM_MAX_FAILED_AUTH=2 "
            "AUTHENTICATION status running, droplet 410000001 in nyc1, token set --stdin")
    assert redact(text) == text


def test_short_values_are_not_masked_by_value() -> None:
    assert redact("a b c", ["b"]) == "a b c"


@given(st.text(alphabet=string.ascii_uppercase + "234567", min_size=16, max_size=40)
       .filter(lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s)))
def test_base32_secrets_are_masked(secret: str) -> None:
    assert secret not in redact(f"totp {secret} end")


def test_a_logger_named_for_secrets_keeps_its_first_word() -> None:
    """`ibdesk.secrets: stored …` is a logger's name and a message, not an assignment: the
    first word of every such line was masked (issue 13, point 11)."""
    for line in ("2026-12-01 10:00:00 INFO ibdesk.secrets: stored ib-demo-1a2b3c4d's password",
                 "2026-12-01 10:00:00 INFO ibdesk.services.token: moved_the_token_to_keyring"):
        assert redact(line) == line
    assert redact("password: hunter22") == f"password: {MASK}"
    assert redact("IBEAM_PASSWORD=hunter22") == f"IBEAM_PASSWORD={MASK}"


def test_a_urls_password_is_masked() -> None:
    assert redact("postgresql://ibdesk:s3cr%40t@db.example:5432/ibdesk") == \
        f"postgresql://ibdesk:{MASK}@db.example:5432/ibdesk"
    assert redact("https://example.com/a:b@c") == "https://example.com/a:b@c"
