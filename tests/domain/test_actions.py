"""The actions on an account: when each applies, and what each says."""

from __future__ import annotations

import pytest

from ibdesk.domain.actions import Ask, ServerAction, allowed_actions
from ibdesk.domain.enums import Environment, IBeamVerdict, ServerStatus
from ibdesk.domain.models import Account

A = ServerAction


def account(status: ServerStatus, *, droplet: bool = True, refused: bool = False) -> Account:
    return Account(id="ib-paper-0a1b2c3d", username="jdoe", environment=Environment.PAPER,
                   do_droplet_id=42 if droplet else None, do_server_status=status,
                   login_refused=IBeamVerdict.PASSWORD_REFUSED if refused else None)


@pytest.mark.parametrize(("status", "expected"), [
    (ServerStatus.RUNNING, {A.STOP, A.RESTART, A.TUNNEL, A.DIAGNOSE, A.DELETE, A.LOGS}),
    (ServerStatus.STOPPED, {A.START, A.DIAGNOSE, A.DELETE, A.LOGS}),
    (ServerStatus.INITIALIZING, {A.STOP, A.RESTART, A.DIAGNOSE, A.DELETE, A.LOGS}),
    (ServerStatus.ERROR, {A.STOP, A.RESTART, A.DIAGNOSE, A.DELETE, A.LOGS}),
    (ServerStatus.PROVISIONING, {A.DIAGNOSE, A.DELETE, A.LOGS}),
])
def test_what_applies_in_each_status(status: ServerStatus, expected: set[A]) -> None:
    assert allowed_actions(account(status), busy=False) == expected
    assert allowed_actions(account(status), busy=True) == set()


def test_remedies_only_when_they_apply() -> None:
    refused = account(ServerStatus.ERROR, refused=True)
    assert A.PASSWORD in allowed_actions(refused, busy=False)
    # a refused password is never "resumed": that would deliver it again
    assert A.RESUME not in allowed_actions(refused, busy=False, resumable=True)
    fresh = account(ServerStatus.PROVISIONING, droplet=False)
    assert allowed_actions(fresh, busy=False, resumable=True) == {A.DELETE, A.DIAGNOSE,
                                                                   A.RESUME}
    assert {a for a in A if a.only_when_allowed} == {A.PASSWORD, A.RESUME}


def test_every_action_says_what_it_does_and_has_its_own_mnemonic() -> None:
    mnemonics = [a.label[a.label.index("&") + 1].lower() for a in A]
    assert len(set(mnemonics)) == len(mnemonics)
    assert not set(mnemonics) & set("cfisaq")  # the toolbar's
    for action in A:
        assert action.when.endswith(".")
        if action.busy_label is not None:
            assert action.busy_label.endswith("…") and "eing" not in action.busy_label
    assert A.DELETE.busy_label == "Deleting…"  # once "Deleteing…", made from the name


def test_what_is_asked_first() -> None:
    assert {a for a in A if a.ask is Ask.CONFIRMATION} == {A.STOP, A.RESTART, A.DELETE}
    assert A.PASSWORD.ask is Ask.PASSWORD and A.START.ask is Ask.NOTHING
    assert A.parse("delete") is A.DELETE and A.parse("connect") is None and A.parse(None) is None
