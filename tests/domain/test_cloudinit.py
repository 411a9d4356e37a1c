"""`cloud-init status --long` as cloud-init 23.4+ prints it (cloudinit/cmd/status.py:
TABULAR_LONG_TMPL), with its exit codes: 0 running or done, 1 error, 2 degraded."""

from __future__ import annotations

from ibdesk.domain.cloudinit import parse_status

DONE = """status: done
extended_status: done
boot_status_code: enabled-by-generator
last_update: Tue, 01 Dec 2026 11:02:03 +0000
detail: DataSourceDigitalOcean
errors: []
recoverable_errors: {}
"""
DEGRADED = """status: done
extended_status: degraded done
boot_status_code: enabled-by-generator
last_update: Tue, 01 Dec 2026 11:02:03 +0000
detail: DataSourceDigitalOcean
errors: []
recoverable_errors:
DEPRECATED:
\t- Deprecated cloud-config provided: apt_update:  Dropped after April 2027.
"""
ERROR = """status: error
extended_status: error - done
boot_status_code: enabled-by-generator
last_update: Tue, 01 Dec 2026 11:02:03 +0000
detail: DataSourceDigitalOcean
errors:
\t- ('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 6 attempted commands'))
recoverable_errors: {}
"""
RUNNING = """status: running
extended_status: running
boot_status_code: enabled-by-generator
detail: DataSourceDigitalOcean
errors: []
recoverable_errors: {}
"""


def test_done() -> None:
    status = parse_status(DONE, 0)
    assert status.finished and not status.failed and not status.degraded


def test_degraded_is_done_not_failed() -> None:
    status = parse_status(DEGRADED, 2)
    assert status.finished and status.degraded and not status.failed
    assert status.recoverable == ("Deprecated cloud-config provided: apt_update:  Dropped "
                                  "after April 2027.",)


def test_error() -> None:
    status = parse_status(ERROR, 1)
    assert status.finished and status.failed
    assert status.errors[0].startswith("('scripts_user', RuntimeError('Runparts: 1 failures")


def test_running_is_not_finished_even_with_exit_0() -> None:
    status = parse_status(RUNNING, 0)
    assert not status.finished and not status.failed
    assert not parse_status("", 0).finished
