"""Starting, stopping and handing secrets to IBeam on a droplet, one way for everyone.

The provisioner, a new password, the doctor's fixes, Diagnose, start/stop/restart and
the failed-login guard all go through here, so that the seed's snapshot (IBeam started
by `/root/starter.sh`) and the stock image (IBeam as the systemd unit `ibeam`) are told
apart in one place, and secret files always land with the owner and mode IBeam's
container user (uid 1000) needs.

**The one rule that keeps a trader from being locked out:** IBeam is never started while
a refusal is on record — the guard's mark on the account, or a refused login (or too
many refused 2FA codes) in IBeam's log since its last start. `start` refuses then, from
wherever it is asked; only a new login (`new_login=True`: a new password was just
delivered) gets past. And when the guard fires it also disables the unit, so that no
reboot starts IBeam with the refused password either.
"""

from __future__ import annotations

import logging

from ibdesk.domain import ibeam as ib
from ibdesk.domain.diagnosis import verdict
from ibdesk.domain.errors import GatewayError, InvalidInput, LoginRefused
from ibdesk.domain.models import Account, IBeamVerdict
from ibdesk.domain.status import VERDICTS
from ibdesk.gateway import Remote
from ibdesk.services.runtime import Runtime

log = logging.getLogger(__name__)

SEED_IMAGE_ID = 182556282
"""The seed's private IBeam snapshot (its own DigitalOcean account's only)."""


def uses_seed_image(account: Account) -> bool:
    return account.do_image == str(SEED_IMAGE_ID)


def start_command(account: Account) -> str:
    return ib.SEED_STARTER_COMMAND if uses_seed_image(account) else ib.START_COMMAND


async def recorded_refusal(remote: Remote, account: Account) -> IBeamVerdict | None:
    """A refusal on record: the guard's mark, or a guarded verdict in IBeam's log since
    its last start (IBeam may have shut itself down with nobody watching)."""
    if account.login_refused is not None:
        return account.login_refused
    code, out, _ = await remote.run(ib.logs_command(200))
    found = verdict(out) if code == 0 else None
    return found if found is not None and found.guarded else None


async def start(remote: Remote, account: Account, *, new_login: bool = False) -> None:
    """Start (or restart) IBeam, unless a refusal is on record and no new login came."""
    if not new_login:
        refusal = await recorded_refusal(remote, account)
        if refusal is not None:
            reason, fix = VERDICTS[refusal]
            raise LoginRefused(f"ibdesk will not start IBeam again: {reason} {fix}",
                               account_id=account.id)
    elif not uses_seed_image(account):
        await remote.run(ib.ENABLE_COMMAND)  # the guard may have disabled it
    code, _, err = await remote.run(start_command(account))
    if code != 0:
        raise GatewayError(f"IBeam did not start on the server: {err.strip()[:200] or code}",
                           account_id=account.id)


async def guard(rt: Runtime, remote: Remote, account: Account,
                found: IBeamVerdict) -> Account:
    """IBKR refused the login: record the refusal (first, so that nothing can start IBeam
    even if what follows fails), stop IBeam now and keep any reboot from starting it.
    Writes only the mark; returns the account as it is now."""
    marked = await rt.store.update_account(account.id, login_refused=found)
    await stop(remote)
    if not uses_seed_image(account):
        code, _, err = await remote.run(ib.DISABLE_COMMAND)
        if code != 0:
            log.warning("could not disable IBeam's unit on %s: %s", account.id,
                        err.strip()[:200])
    log.warning("IBKR refused the login of %s (%s); IBeam stopped and disabled", account.id,
                found)
    return marked


async def stop(remote: Remote) -> bool:
    """Stop IBeam whatever started it: its unit, else its container. True if stopped."""
    code, _, err = await remote.run(ib.STOP_COMMAND)
    if code == 0:
        return True
    code, _, err2 = await remote.run(ib.DOCKER_STOP_COMMAND)
    if code != 0:
        log.warning("could not stop IBeam: %s / %s", err.strip()[:200], err2.strip()[:200])
    return code == 0


IBEAM_USER = (ib.CONTAINER_UID, ib.CONTAINER_GID)


async def write_secrets(remote: Remote, username: str, password: str) -> None:
    """The stock image's two secret files, 1000:1000 0400, in their folder given to the
    same user (which also mends a server whose folder was made for root)."""
    await remote.write_files({ib.ACCOUNT_FILE: username.encode(),
                              ib.PASSWORD_FILE: password.encode()}, owner=IBEAM_USER)
    await remote.chown(ib.SECRETS_DIR, *IBEAM_USER)


async def write_login(remote: Remote, username: str, password: str, env_list: str) -> None:
    """Everything IBeam reads on the stock image: the two secret files (1000:1000 0400 in
    a 1000:1000 0700 folder, mounted read-only) and the env file (root 0600: Docker reads
    it as root; it holds the TOTP secret, the one secret IBeam takes from its
    environment)."""
    await write_secrets(remote, username, password)
    await remote.write_files({ib.ENV_FILE: env_list.encode()}, mode=ib.ENV_FILE_MODE,
                             dir_mode=0o700)


MAX_FAILED_AUTH = 2
"""IBeam stops after this many refused logins, far below IBKR's lockout."""


def settings_for(account: Account) -> ib.IBeamSettings:
    """The IBeam settings ibdesk gives every account's IBeam."""
    return ib.IBeamSettings(environment=account.environment,
                            two_fa_handler=account.two_fa_handler,
                            max_failed_auth=MAX_FAILED_AUTH)


async def deliver_login(remote: Remote, account: Account, *, password: str,
                        totp: str | None) -> None:
    """The login, where this server's IBeam reads it: the seed's snapshot takes one env
    file (`render_seed_env_list`); the stock image the two secret files and its env file
    (`write_login`). The one place both the provisioner and a new password deliver it."""
    settings = settings_for(account)
    if uses_seed_image(account):
        try:
            text = ib.render_seed_env_list(settings, username=account.username,
                                           password=password, totp_secret=totp)
        except ValueError as exc:
            raise InvalidInput(f"This password cannot be used here: {exc}.") from None
        await remote.write_files({ib.SEED_ENV_FILE: text.encode()}, mode=ib.ENV_FILE_MODE)
        return
    await write_login(remote, account.username, password,
                      ib.render_env_list(settings, totp_secret=totp))


__all__ = ["IBEAM_USER", "MAX_FAILED_AUTH", "SEED_IMAGE_ID", "deliver_login", "guard",
           "recorded_refusal", "settings_for", "start", "start_command", "stop",
           "uses_seed_image", "write_login", "write_secrets"]
