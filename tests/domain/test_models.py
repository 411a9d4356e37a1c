from __future__ import annotations

import pytest
from pydantic import ValidationError

from ibdesk.domain.enums import Environment, ServerStatus
from ibdesk.domain.errors import CloudError, IbdeskError
from ibdesk.domain.models import ACCOUNT_ID_RE, Account, new_account_id


def test_account_ids_have_the_seed_shape() -> None:
    ids = {new_account_id(Environment.DEMO) for _ in range(50)}
    assert len(ids) == 50
    assert all(ACCOUNT_ID_RE.match(i) and i.startswith("ib-demo-") for i in ids)


def test_account_defaults_and_immutability() -> None:
    account = Account(id="ib-paper-a1b2c3d4", username="jdoe", environment="paper")
    assert account.do_server_status is ServerStatus.PROVISIONING
    with pytest.raises(ValidationError):
        account.username = "x"  # type: ignore[misc]


@pytest.mark.parametrize("bad", [
    {"id": "ib-demo-XYZ", "username": "a", "environment": "demo"},
    {"id": "ib-demo-a1b2c3d4", "username": "a", "environment": "paper"},
    {"id": "ib-demo-a1b2c3d4", "username": " a", "environment": "demo"},
    {"id": "ib-demo-a1b2c3d4", "username": "a\n", "environment": "demo"},
    {"id": "ib-demo-a1b2c3d4", "username": "", "environment": "demo"},
    {"id": "ib-demo-a1b2c3d4", "username": "a", "environment": "prod"},
])
def test_invalid_accounts_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Account(**bad)


def test_errors_carry_plain_words_and_context() -> None:
    err = CloudError("Nope.", status_code=422, error_id="unprocessable_entity",
                     request_id="r-1", droplet_id=5)
    assert str(err) == "Nope."
    assert err.context["droplet_id"] == 5 and err.request_id == "r-1"
    assert "droplet_id=5" in repr(err)
    assert IbdeskError().user_message == "Something went wrong."
