"""IBKR as the sandbox plays it (shared by both IBeams), and the sandbox gateway's own
rules (its conf.yaml, its allow list)."""

from __future__ import annotations

from pathlib import Path

from ibdesk.sandbox.cpgateway import allowed, read_conf
from ibdesk.sandbox.ibkr import (
    IBKR,
    PAPER_MODE_TEXT,
    WRONG_CODE_TEXT,
    WRONG_PASSWORD_TEXT,
    IBKRUser,
    UserBook,
    totp,
)
from ibdesk.sandbox.realibeam import CONF_YAML

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890", RFC 6238's key


def test_totp_follows_rfc_6238() -> None:
    # RFC 6238, appendix B, SHA-1: 94287082 at T=59, 07081804 at T=1111111109 (8 digits)
    assert totp(RFC_SECRET, 59, digits=8) == "94287082"
    assert totp(RFC_SECRET, 1111111109, digits=8) == "07081804"
    assert totp(RFC_SECRET, 59) == "287082"
    assert totp(RFC_SECRET.lower(), 59) == "287082"  # what authenticator apps accept too


def _ibkr(now: float = 1_800_000_000.0) -> IBKR:
    return IBKR(UserBook([IBKRUser("jdoe", "pw"), IBKRUser("paper1", "pw", paper=True),
                          IBKRUser("live1", "pw", totp_secret=RFC_SECRET)]), lambda: now)


def test_logins_and_their_refusals() -> None:
    ibkr = _ibkr()
    assert ibkr.login("g1", "jdoe", "pw", paper=False).result == "ok"
    wrong = ibkr.login("g1", "jdoe", "nope", paper=False)
    assert (wrong.result, wrong.error) == ("error", WRONG_PASSWORD_TEXT)
    assert ibkr.login("g1", "nobody", "pw", paper=False).error == WRONG_PASSWORD_TEXT
    assert ibkr.passwords_refused == 2
    assert ibkr.login("g2", "paper1", "pw", paper=False).error == PAPER_MODE_TEXT
    assert ibkr.login("g2", "paper1", "pw", paper=True).result == "ok"


def test_second_factor_with_one_step_of_drift() -> None:
    now = 1_800_000_000.0
    ibkr = _ibkr(now)
    challenge = ibkr.login("g1", "live1", "pw", paper=False)
    assert challenge.result == "2fa" and ibkr.session("g1") is None
    refused = ibkr.second_factor(challenge.challenge, "000000")
    assert (refused.result, refused.error) == ("error", WRONG_CODE_TEXT)
    assert ibkr.codes_refused == 1
    assert ibkr.second_factor(challenge.challenge, totp(RFC_SECRET, now - 30)).result == "ok"
    session = ibkr.session("g1")
    assert session is not None and session.authenticated and session.username == "live1"


def test_one_brokerage_session_per_username() -> None:
    ibkr = _ibkr()
    ibkr.login("g1", "jdoe", "pw", paper=False)
    ibkr.login("g2", "jdoe", "pw", paper=False)
    first, second = ibkr.session("g1"), ibkr.session("g2")
    assert first is not None and first.competing
    assert second is not None and not second.competing
    rendered = first.render()
    assert set(rendered) >= {"authenticated", "connected", "competing", "serverInfo", "account"}


def test_the_gateways_conf_yaml_and_allow_list(tmp_path: Path) -> None:
    conf = tmp_path / "conf.yaml"
    conf.write_text(CONF_YAML)
    read = read_conf(str(conf))
    assert read["listenPort"] == 5000
    assert read["allow"] == ["10.*", "192.*", "172.*", "172.17.0.*", "127.0.0.1"]
    assert allowed("127.0.0.1", read["allow"]) and allowed("172.17.0.1", read["allow"])
    assert not allowed("203.0.113.7", read["allow"])
    assert not allowed("127.0.0.10", ["127.0.0.1"])  # a pattern is the whole address
