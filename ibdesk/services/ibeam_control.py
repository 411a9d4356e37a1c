"""Starting, stopping and handing secrets to IBeam on a droplet, one way for everyone.

The provisioner, a new password, the doctor's fixes and the failed-login guard all go
through here, so that the seed's snapshot (IBeam started by `/root/starter.sh`) and the
stock image (IBeam as the systemd unit `ibeam`) are told apart in one place, and secret
files always land with the owner and mode IBeam's container user (uid 1000) needs.
"""

from __future__ import annotations

import logging

from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import GatewayError
from ibdesk.domain.models import Account
from ibdesk.gateway import Remote

log = logging.getLogger(__name__)

SEED_IMAGE_ID = 182556282
"""The seed's private IBeam snapshot (its own DigitalOcean account's only)."""


def uses_seed_image(account: Account) -> bool:
    return account.do_image == str(SEED_IMAGE_ID)


def start_command(account: Account) -> str:
    return ib.SEED_STARTER_COMMAND if uses_seed_image(account) else ib.START_COMMAND


async def start(remote: Remote, account: Account) -> None:
    code, _, err = await remote.run(start_command(account))
    if code != 0:
        raise GatewayError(f"IBeam did not start on the server: {err.strip()[:200] or code}",
                           account_id=account.id)


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


__all__ = ["IBEAM_USER", "SEED_IMAGE_ID", "start", "start_command", "stop",
           "uses_seed_image", "write_login", "write_secrets"]
