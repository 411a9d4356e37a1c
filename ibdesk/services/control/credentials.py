"""A new IBKR password for an existing account: kept, delivered the secure way (a file
only IBeam's container user can read), IBeam restarted, and the failed-login guard's
mark cleared."""

from __future__ import annotations

from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import InvalidInput
from ibdesk.domain.models import IBeamVerdict, ServerStatus
from ibdesk.secrets import ibkr_password, totp_secret
from ibdesk.services.control import ibeam_control
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime


async def change_password(rt: Runtime, account_id: str, password: str) -> None:
    try:
        ib.check_deliverable(password)
    except ValueError as exc:
        raise InvalidInput(f"This password cannot be used: {exc}.") from None
    if not password:
        raise InvalidInput("Enter the IBKR password.")
    store = rt.store
    account = await store.require_account(account_id)
    if account.login_refused is IBeamVerdict.CODES_REFUSED:
        raise InvalidInput("IBKR refused this server's 2FA codes, not its password: a new "
                           "password would only cost more refused codes. Delete the account "
                           "and connect it again with the right authenticator secret.")
    totp = await in_thread(rt.secrets.get, totp_secret(account_id))
    async with RemoteAccess(rt).open(account) as remote:
        await ibeam_control.deliver_login(remote, account, password=password, totp=totp)
        await ibeam_control.start(remote, account, new_login=True)
    await in_thread(rt.secrets.set, ibkr_password(account_id), password)
    await store.update_account(account_id, login_refused=None)
    await store.record_status(account_id, ServerStatus.INITIALIZING,
                    "New password delivered; IBeam is logging in again.")


__all__ = ["change_password"]
