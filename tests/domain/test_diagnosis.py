"""Reading IBeam's log for known causes: IBeam 0.5.12's own lines, newest start only.

Every line below is what IBeam 0.5.12 writes (its format `%(asctime)s|%(levelname)-.1s|
%(message)s` and messages copied from its login_handler.py, strategy_handler.py,
secrets_handler.py, logs.py and pyotp_handler.py); tests/e2e/test_real_ibeam.py checks the
same rules against the real IBeam's output.
"""

from __future__ import annotations

import pytest

from ibdesk.domain.diagnosis import (
    CheckResult,
    CheckState,
    FixAction,
    LogCause,
    recognise,
    refused_codes,
    verdict,
    worst,
)
from ibdesk.domain.models import IBeamVerdict

T = "2026-11-25 10:00:05,000"
START = f"{T}|I| ############ Starting IBeam version 0.5.12 ############"
ATTEMPT = f"{T}|I| Login attempt number 1"
SUBMIT = f"{T}|I| Submitting the form"
WRONG = f"{T}|E| Error displayed by the login webpage: Invalid username password combination"
MAX = (f"{T}|C| ######## ATTENTION! ######## Maximum number of failed authentication attempts "
       "(IBEAM_MAX_FAILED_AUTH=2) reached. IBeam will shut down to prevent an account "
       "lock-out. It is recommended you attempt to authenticate manually in order to reset "
       "the counter. Read the execution logs and report issues at "
       "https://github.com/Voyz/ibeam/issues")
NO_HANDLER = (f"{T}|C| ######## ATTENTION! ######## No 2FA handler found. You may define your "
              "own 2FA handler or use built-in handlers. See documentation for more: "
              "https://github.com/Voyz/ibeam/wiki/Two-Factor-Authentication")
NO_CODE = f"{T}|W| No 2FA code returned. Aborting authentication."
TWO_FA = f"{T}|I| Credentials correct, but Gateway requires two-factor authentication."
CODE_SENT = f"{T}|I| Submitting the 2FA form"
CODE_REFUSED = f"{T}|E| Error displayed by the login webpage: whatever IBKR says"
PAGE = (f"{T}|E| Timeout reached when waiting for authentication. The website seems to not be "
        "loaded correctly. Consider increasing IBEAM_PAGE_LOAD_TIMEOUT. ")
RESET = f"{T}|I| Active session found but not authenticated, reauthenticating..."
COMPETING = (f"{T}|I| Competing or disconnected Gateway session found, logging out and "
             "reauthenticating...")
NOT_A_FILE = f"{T}|E| Unable to read env value for IBEAM_ACCOUNT: value is not a file"
NO_ACCOUNT = (f"{T}|E| Account cannot be None. Specify by setting IBEAM_ACCOUNT environment "
              "variable.")
OUTPUTS = "PermissionError: [Errno 13] Permission denied: '/srv/outputs/ibeam_log__2026-11-25.txt'"
NO_SECRET = "ValueError: IBEAM_PYOTP_SECRET must be set"


def causes(*lines: str) -> list[LogCause]:
    return [f.cause for f in recognise("\n".join(lines))]


def test_each_known_cause_is_named() -> None:
    assert causes(START, WRONG) == [LogCause.WRONG_PASSWORD]
    assert causes(START, TWO_FA, NO_HANDLER) == [LogCause.TWO_FA_NO_HANDLER]
    assert causes(START, NO_CODE) == [LogCause.TWO_FA_NO_CODE]
    assert causes(START, PAGE) == [LogCause.PAGE_TIMEOUT]
    assert causes(START, RESET) == [LogCause.SESSION_RESET]
    assert causes(START, COMPETING) == [LogCause.COMPETING]
    assert causes(START, NOT_A_FILE, NO_ACCOUNT) == [LogCause.SECRETS_UNREADABLE]
    assert causes(OUTPUTS) == [LogCause.OUTPUTS_UNWRITABLE]
    assert causes(START, NO_SECRET) == [LogCause.TWO_FA_MISCONFIGURED]
    assert causes(START, "all fine", "Gateway running and authenticated") == []


@pytest.mark.parametrize("line", [
    f"{T}|E| Unable to read secrets: PermissionError",
    f"{T}|W| Session reset by IBKR (daily restart). Not authenticated",
    f"{T}|W| 2FA code 123456 not received in time",
    f"{T}|E| Gateway answered 403: Access Denied",
])
def test_lines_ibeam_never_writes_are_not_causes(line: str) -> None:
    """The old patterns matched only the old simulator's inventions."""
    assert causes(START, line) == []


def test_a_refused_2fa_code_is_the_error_after_the_2fa_form() -> None:
    """IBKR's words for a refused code are not known; where the error appears is."""
    attempt = [ATTEMPT, SUBMIT, TWO_FA, CODE_SENT, CODE_REFUSED]
    assert causes(START, *attempt) == [LogCause.TWO_FA_WRONG_CODE]
    # the same words before any 2FA form are a refused password, not a code
    assert causes(START, ATTEMPT, SUBMIT, WRONG) == [LogCause.WRONG_PASSWORD]
    assert causes(START, ATTEMPT, SUBMIT, CODE_REFUSED) == []
    assert refused_codes("\n".join([START, *attempt, *attempt, *attempt])) == 3


def test_verdicts_stop_only_for_good_reasons() -> None:
    attempt = [ATTEMPT, SUBMIT, TWO_FA, CODE_SENT, CODE_REFUSED]
    assert verdict("\n".join([START, *attempt])) is None  # one refused code: a clock edge
    assert verdict("\n".join([START, *attempt, *attempt])) is IBeamVerdict.CODES_REFUSED
    assert verdict("\n".join([START, WRONG])) is IBeamVerdict.PASSWORD_REFUSED
    assert verdict("\n".join([START, WRONG, MAX])) is IBeamVerdict.PASSWORD_REFUSED
    assert verdict("\n".join([START, TWO_FA, NO_HANDLER])) is IBeamVerdict.NO_TWO_FA_HANDLER
    assert verdict("\n".join([START, NOT_A_FILE, NO_ACCOUNT])) is \
        IBeamVerdict.SECRETS_UNREADABLE
    assert verdict(OUTPUTS) is IBeamVerdict.OUTPUTS_UNWRITABLE
    for passing in (PAGE, NO_CODE, RESET, COMPETING):
        assert verdict("\n".join([START, passing])) is None
    assert verdict("\n".join([START, WRONG, START, "Gateway running"])) is None
    assert IBeamVerdict.PASSWORD_REFUSED.guarded and IBeamVerdict.CODES_REFUSED.guarded
    assert not IBeamVerdict.NO_TWO_FA_HANDLER.guarded


def test_a_refused_login_is_worded_as_possibly_spurious() -> None:
    (finding,) = recognise("\n".join([START, WRONG]))
    assert "sometimes does this spuriously" in finding.meaning
    assert "interactivebrokers.com" in finding.fix


def test_shutdown_after_failed_logins_says_it_all_and_counts() -> None:
    (finding,) = recognise("\n".join([START, WRONG, WRONG, MAX]))
    assert finding.cause is LogCause.MAX_FAILED_AUTH
    assert finding.action is FixAction.NEW_PASSWORD and finding.line == MAX.strip()


def test_failures_come_before_warnings_and_count_repeats() -> None:
    found = recognise("\n".join([START, RESET, PAGE, PAGE, WRONG]))
    assert [f.cause for f in found] == [LogCause.WRONG_PASSWORD, LogCause.PAGE_TIMEOUT,
                                         LogCause.SESSION_RESET]
    assert found[1].count == 2 and found[0].state is CheckState.FAILED


def test_only_lines_since_the_last_start_count() -> None:
    # a wrong password fixed since (IBeam restarted with the new one) is not a finding
    assert causes(START, WRONG, MAX, START, "Gateway running and authenticated") == []
    assert causes(WRONG) == [LogCause.WRONG_PASSWORD]  # no start line in view: all lines count


def test_worst_state() -> None:
    def r(state: CheckState) -> CheckResult:
        return CheckResult(key="k", title="t", state=state, evidence="e")

    assert worst([r(CheckState.OK), r(CheckState.SKIPPED)]) is CheckState.OK
    assert worst([r(CheckState.OK), r(CheckState.WARNING)]) is CheckState.WARNING
    assert worst([r(CheckState.WARNING), r(CheckState.FAILED)]) is CheckState.FAILED


def test_one_table_of_checks_and_fixes() -> None:
    """What each check needs decides what a run without an account makes and what an
    SSH failure skips; each fix says its own label for the window and the command line."""
    from ibdesk.domain.diagnosis import Check, FixAction, Needs

    assert [c.value for c in Check.run_for(account=False)] == [
        "keyring", "token", "token_write", "droplet_limit", "firewall"]
    assert Check.run_for(account=True) == list(Check)
    assert Check.needing(Needs.SSH) == [Check.CLOCK, Check.CONTAINER, Check.LIVEZ,
                                        Check.READYZ, Check.AUTH, Check.LOG]
    assert len({c.label for c in Check}) == len(Check)
    assert [f for f in FixAction if not f.automatic] == [FixAction.NEW_PASSWORD]
    assert all(f.label and f.sentence[0].isupper() for f in FixAction)


def test_what_a_failed_check_skips_follows_from_the_table() -> None:
    from ibdesk.domain.diagnosis import Check

    assert Check.TOKEN.dependents() == [Check.TOKEN_WRITE, Check.DROPLET_LIMIT, Check.IMAGE,
                                        Check.FIREWALL]
    assert Check.CONTAINER.dependents() == [Check.LIVEZ, Check.READYZ, Check.AUTH]
    assert Check.DROPLET.dependents() == [Check.SSH, *Check.SSH.dependents()]
    assert Check.SSH.dependents() == [Check.CLOCK, Check.CONTAINER, Check.LIVEZ,
                                      Check.READYZ, Check.AUTH, Check.LOG]
    for check in Check:  # a check runs after what it requires
        if check.requires is not None:
            assert list(Check).index(check.requires) < list(Check).index(check)
