"""Reading IBeam's log for known causes: IBeam's own lines, newest start only."""

from __future__ import annotations

from ibdesk.domain.diagnosis import (
    CheckResult,
    CheckState,
    FixAction,
    LogCause,
    recognise,
    worst,
)

# Lines as IBeam writes them (ibeam/src/login/authenticate.py, strategy_handler.py).
START = "2026-11-25 10:00:00,000|I| ############ Starting IBeam version 0.5.x ############"
WRONG = ("2026-11-25 10:00:05,000|E| Error displayed by the login webpage: Invalid username "
         "password combination")
MAX = ("2026-11-25 10:01:05,000|C| ######## ATTENTION! ######## Maximum number of failed "
       "authentication attempts (IBEAM_MAX_FAILED_AUTH=2) reached. IBeam will shut down to "
       "prevent an account lock-out.")
NO_HANDLER = ("2026-11-25 10:00:05,000|C| ######## ATTENTION! ######## No 2FA handler found. "
              "You may define your own 2FA handler or use built-in handlers.")
NO_CODE = "2026-11-25 10:00:05,000|W| No 2FA code returned. Aborting authentication."
PAGE = ("2026-11-25 10:00:05,000|E| Timeout reached when waiting for authentication. The "
        "website seems to not be loaded correctly. Consider increasing IBEAM_PAGE_LOAD_TIMEOUT.")
RESET = "2026-11-25 05:00:05,000|I| Gateway session found but not authenticated, logging in..."
COMPETING = "2026-11-25 10:00:05,000|I| Competing Gateway session found, restarting and logging in..."
DENIED = "2026-11-25 10:00:05,000|E| Gateway answered 403: Access Denied"


def causes(*lines: str) -> list[LogCause]:
    return [f.cause for f in recognise("\n".join(lines))]


def test_each_known_cause_is_named() -> None:
    assert causes(START, WRONG) == [LogCause.WRONG_PASSWORD]
    assert causes(START, NO_HANDLER) == [LogCause.TWO_FA_NO_HANDLER]
    assert causes(START, NO_CODE) == [LogCause.TWO_FA_TIMEOUT]
    assert causes(START, PAGE) == [LogCause.PAGE_TIMEOUT]
    assert causes(START, RESET) == [LogCause.SESSION_RESET]
    assert causes(START, COMPETING) == [LogCause.COMPETING]
    assert causes(START, DENIED) == [LogCause.ACCESS_DENIED]
    assert causes(START, "all fine", "Gateway running and authenticated") == []


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
