"""`ibdesk doctor`: the checks support staff would do by hand, in order, each with its
evidence and the fix in one sentence.

The checks run as an async generator so that a front end can show each one the moment
it finishes (the window's Diagnose view turns rows green or red as they arrive). A check
that needs an earlier one (SSH needs an active droplet, the gateway needs SSH) is
reported as skipped with the reason, never silently left out. Nothing here changes the
server except `apply`, which a person asks for.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ibdesk.cloud import DigitalOceanClient
from ibdesk.cloud.public_ip import public_address
from ibdesk.domain import ibeam as ib
from ibdesk.domain.diagnosis import Check, CheckResult, CheckState, FixAction, recognise
from ibdesk.domain.errors import (
    CloudAuthError,
    CloudError,
    GatewayError,
    IbdeskError,
    InvalidInput,
    NotFound,
    SecretsError,
)
from ibdesk.domain.models import Account, IBeamVerdict
from ibdesk.domain.naming import APP_TAG
from ibdesk.domain.status import VERDICTS
from ibdesk.domain.wording import clip
from ibdesk.gateway import HostKeyChanged, Remote
from ibdesk.gateway.probe import Inspection, inspect
from ibdesk.services.connect.catalogue import STOCK_IMAGES
from ibdesk.services.connect.firewall import (
    ANYWHERE,
    FIREWALL_NAME,
    ensure_firewall,
    ssh_sources,
)
from ibdesk.services.control import ibeam_control
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

CLOCK_WARN_SECONDS = 5
CLOCK_FAIL_SECONDS = 30
"""TOTP codes live 30 s: past that the server's 2FA codes are refused."""


TITLES = {check.value: check.label for check in Check}
"""Every check's title, in the order the checks run (domain.diagnosis.Check)."""


def _result(key: str, title: str, state: CheckState, evidence: str, fix: str = "",
            action: FixAction | None = None) -> CheckResult:
    return CheckResult(key=key, title=title, state=state, evidence=evidence, fix=fix,
                       action=action)


def _skip(key: str, why: str) -> CheckResult:
    return _result(key, TITLES[key], CheckState.SKIPPED, why)


def _skip_after(failed: Check, why: str, *, account: bool = True) -> list[CheckResult]:
    """Every check that cannot run because `failed` did not pass (the table's
    `Check.dependents`), skipped with `why`."""
    wanted = Check.run_for(account=account)
    return [_skip(check.value, why) for check in failed.dependents() if check in wanted]


@dataclass
class _Context:
    token: str | None = None
    address: str | None = None
    ours: int = 0
    """Droplets carrying the ibdesk tag."""


_UNFINISHED = ("Finish setting it up (`ibdesk connect --resume {id}`), or delete the account "
               "and connect it again.")
"""What to do about a server whose connect stopped before IBeam's settings were delivered."""


class Doctor:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    # ------------------------------------------------------------------ checks
    async def run(self, account_id: str | None = None) -> AsyncIterator[CheckResult]:
        """Every check of `Check.run_for`, in the table's order: the workstation and
        DigitalOcean first, then (with an account) its droplet, SSH, IBeam and the
        gateway. A check the path below did not reach is reported skipped, with the
        check it waited for: never silently left out."""
        account: Account | None = None
        if account_id is not None:
            account = await self._rt.store.require_account(account_id)
        pending = Check.run_for(account=account is not None)
        async for result in self._checks(account):
            check = Check(result.key.partition(":")[0])  # the log check gives one a cause
            if check in pending:
                while pending[0] is not check:
                    yield _unreached(pending.pop(0))
                pending.pop(0)
            yield result
        for check in pending:
            yield _unreached(check)

    async def _checks(self, account: Account | None) -> AsyncIterator[CheckResult]:
        ctx = _Context()
        yield await self._keyring()
        async for result in self._cloud(ctx, account):
            yield result
        if account is not None:
            async for result in self._server(ctx, account):
                yield result

    async def _keyring(self) -> CheckResult:
        title = TITLES["keyring"]
        try:
            name = await in_thread(self._rt.secrets.check)
        except SecretsError as exc:
            return _result("keyring", title, CheckState.FAILED, exc.user_message,
                           "Install or unlock the system keyring, then run doctor again.")
        return _result("keyring", title, CheckState.OK, f"Secrets are kept in {name}.")

    async def _cloud(self, ctx: _Context, account: Account | None
                     ) -> AsyncIterator[CheckResult]:
        title = TITLES["token"]
        try:
            ctx.token = await in_thread(TokenService(self._rt).require)
        except IbdeskError as exc:
            yield _result("token", title, CheckState.FAILED, exc.user_message,
                          "Store a token: `ibdesk token set --stdin` or the Connect wizard.")
            for r in _skip_after(Check.TOKEN, "Needs a working DigitalOcean token.",
                                 account=account is not None):
                yield r
            return
        async with self._rt.cloud(ctx.token) as do:
            try:
                me = await do.get_account()
            except CloudError as exc:
                yield _result("token", title, CheckState.FAILED, exc.user_message,
                              "Create a new token in DigitalOcean (API → Tokens) and store it "
                              "with `ibdesk token set --stdin`."
                              if isinstance(exc, CloudAuthError) else
                              "Check this computer's internet connection and "
                              "status.digitalocean.com, then run doctor again.")
                for r in _skip_after(Check.TOKEN, "Needs DigitalOcean to accept the token.",
                                     account=account is not None):
                    yield r
                return
            if me.status != "active":
                yield _result("token", title, CheckState.FAILED,
                              f"The DigitalOcean account {me.email} is {me.status}: "
                              f"{me.status_message or 'no reason given'}.",
                              "Sort out the account with DigitalOcean (billing or verification).")
            else:
                yield _result("token", title, CheckState.OK,
                              f"Accepted for {me.email} (account active).")
            try:
                await do.create_tag(APP_TAG)  # creating an existing tag changes nothing
                yield _result("token_write", TITLES["token_write"], CheckState.OK,
                              "Write access confirmed (tag `ibdesk` created or already there).")
            except CloudAuthError:
                yield _result("token_write", TITLES["token_write"], CheckState.FAILED,
                              "DigitalOcean refused a write with this token: it is read-only "
                              "or lacks a scope.",
                              "Create a token with write scope (or droplet, firewall, ssh_key "
                              "and tag scopes) and store it with `ibdesk token set --stdin`.")
            except CloudError as exc:
                yield _result("token_write", TITLES["token_write"], CheckState.WARNING,
                              f"Could not confirm write access: {exc.user_message}")
            droplets = await do.list_droplets()
            ctx.ours = sum(APP_TAG in (d.tags or []) for d in droplets)
            left = me.droplet_limit - len(droplets)
            yield _result(
                "droplet_limit", TITLES["droplet_limit"],
                CheckState.OK if left > 0 else CheckState.WARNING,
                f"{len(droplets)} of {me.droplet_limit} droplets in use; {max(left, 0)} left.",
                "" if left > 0 else "Delete an unused droplet or ask DigitalOcean for a higher "
                "limit before connecting another account.")
            if account is not None:
                yield await self._image(do, account)
            yield await self._firewall(do, ctx)

    async def _image(self, do: DigitalOceanClient, account: Account) -> CheckResult:
        title = TITLES["image"]
        wanted = account.do_image or self._rt.settings.image_id
        try:
            image = await do.get_image(wanted)
        except NotFound:
            return _result("image", title, CheckState.WARNING,
                           f"The server's image {wanted} is no longer available to this token; "
                           f"a reconnect would use the stock image {STOCK_IMAGES[0]} instead.",
                           "Nothing to do while the server runs; set DIGITAL_OCEAN_IMAGE_ID "
                           "to an image you own before reconnecting.")
        except CloudError as exc:
            return _result("image", title, CheckState.WARNING,
                           f"Could not look the image up: {exc.user_message}")
        label = image.slug or image.name or str(image.id)
        if account.do_region and image.regions and account.do_region not in image.regions:
            return _result("image", title, CheckState.WARNING,
                           f"{label} is not offered in {account.do_region} (only in "
                           f"{', '.join(image.regions[:8])}).",
                           f"A reconnect in this region uses the stock image {STOCK_IMAGES[0]}; "
                           "transfer the snapshot to the region to keep using it.")
        return _result("image", title, CheckState.OK,
                       f"{label} is available in {account.do_region or 'the region'}.")

    async def _firewall(self, do: DigitalOceanClient, ctx: _Context) -> CheckResult:
        title = TITLES["firewall"]
        ctx.address = await public_address(self._rt.settings.public_ip_url)
        firewall = next((f for f in await do.list_firewalls() if f.name == FIREWALL_NAME),
                        None)
        if firewall is None and not ctx.ours:
            return _result("firewall", title, CheckState.OK,
                           "No ibdesk server yet; the firewall is created with the first one.")
        if firewall is None:
            return _result("firewall", title, CheckState.FAILED,
                           f"There is no `{FIREWALL_NAME}` firewall: SSH is open to the world "
                           "or closed, depending on the droplet.",
                           "Let ibdesk create it (Update firewall).", FixAction.UPDATE_FIREWALL)
        sources = ssh_sources(firewall)
        if APP_TAG not in (firewall.tags or []):
            return _result("firewall", title, CheckState.FAILED,
                           f"`{FIREWALL_NAME}` no longer applies to the `{APP_TAG}` tag.",
                           "Let ibdesk repair it (Update firewall).", FixAction.UPDATE_FIREWALL)
        if ctx.address is None:
            return _result("firewall", title, CheckState.WARNING,
                           f"This computer's public address could not be found; SSH is "
                           f"admitted from {', '.join(sources) or 'nowhere'}.",
                           "Check the internet connection, then run doctor again.")
        mine = f"{ctx.address}/32" if ":" not in ctx.address else f"{ctx.address}/128"
        if mine in sources or ctx.address in sources:
            return _result("firewall", title, CheckState.OK,
                           f"SSH (port 22) is admitted from this computer ({ctx.address}); "
                           "ports 5000/5001 are closed.")
        if set(ANYWHERE) & set(sources):
            return _result("firewall", title, CheckState.WARNING,
                           "SSH is admitted from anywhere on the internet.",
                           f"Narrow it to this computer ({ctx.address}) with Update firewall.",
                           FixAction.UPDATE_FIREWALL)
        return _result("firewall", title, CheckState.FAILED,
                       f"This computer's address changed: it is now {ctx.address}, the "
                       f"firewall admits {', '.join(sources) or 'nobody'}.",
                       f"Update the firewall to admit {ctx.address} (Update firewall).",
                       FixAction.UPDATE_FIREWALL)

    async def _server(self, ctx: _Context, account: Account) -> AsyncIterator[CheckResult]:
        def skip_rest(why: str) -> list[CheckResult]:
            return _skip_after(Check.DROPLET, why)

        title = TITLES["droplet"]
        if account.do_droplet_id is None or ctx.token is None:
            yield _result("droplet", title, CheckState.FAILED,
                          "This account has no droplet yet (connecting did not get that far)."
                          if account.do_droplet_id is None else "No token to look it up.",
                          f"Resume with `ibdesk connect --resume {account.id} --wait`, or "
                          f"delete the account.")
            for r in skip_rest("Needs the droplet."):
                yield r
            return
        async with self._rt.cloud(ctx.token) as do:
            try:
                droplet = await do.get_droplet(account.do_droplet_id)
            except NotFound:
                yield _result("droplet", title, CheckState.FAILED,
                              f"Droplet {account.do_droplet_id} no longer exists at "
                              "DigitalOcean (deleted outside ibdesk).",
                              f"Delete the account (`ibdesk delete {account.id}`) and connect "
                              "it again.")
                for r in skip_rest("The droplet is gone."):
                    yield r
                return
            except CloudError as exc:
                yield _result("droplet", title, CheckState.FAILED, exc.user_message,
                              "Try again in a minute.")
                for r in skip_rest("DigitalOcean did not answer."):
                    yield r
                return
        facts = (f"{droplet.name} (id {droplet.id}) is {droplet.status} in "
                 f"{droplet.region.slug if droplet.region else '?'}, address "
                 f"{droplet.public_ipv4 or 'none'}.")
        if droplet.status == "off":
            yield _result("droplet", title, CheckState.FAILED, facts,
                          "Start the server (it is still billed while off).",
                          FixAction.START_SERVER)
            for r in skip_rest("The server is off."):
                yield r
            return
        if droplet.status != "active":
            yield _result("droplet", title, CheckState.WARNING, facts,
                          "Wait for DigitalOcean to finish starting it.")
            for r in skip_rest("The server is not running yet."):
                yield r
            return
        yield _result("droplet", title, CheckState.OK, facts)
        if droplet.public_ipv4 and droplet.public_ipv4 != account.do_ip_address:
            await self._rt.store.update_account(account.id,
                            do_ip_address=droplet.public_ipv4)
            account = await self._rt.store.require_account(account.id)
        async for result in self._over_ssh(account):
            yield result

    async def _over_ssh(self, account: Account) -> AsyncIterator[CheckResult]:
        try:
            async with RemoteAccess(self._rt).open(account) as remote:
                fingerprint = _fingerprint(remote.host_key)
                yield _result("ssh", TITLES["ssh"], CheckState.OK,
                              f"Logged in as root; host key {fingerprint} matches the one "
                              "pinned at first connection.")
                yield await self._clock(remote)
                refusal = await ibeam_control.recorded_refusal(remote, account)
                container = await self._container(remote, account, refusal)
                yield _no_restart(container, refusal)
                if container.state is not CheckState.OK:
                    for r in _skip_after(Check.CONTAINER, "IBeam is not running."):
                        yield r
                else:
                    seen = await inspect(remote)
                    for result in _gateway_results(seen):
                        yield _no_restart(result, refusal)
                for result in await self._log(remote):
                    yield _no_restart(result, refusal)
        except HostKeyChanged as exc:
            yield _result("ssh", TITLES["ssh"], CheckState.FAILED, exc.user_message,
                          "If the server was rebuilt on purpose, delete and reconnect the "
                          "account; otherwise contact support before sending anything.")
            for r in _skip_after(Check.SSH, "SSH is refused."):
                yield r
        except GatewayError as exc:
            yield _result("ssh", TITLES["ssh"], CheckState.FAILED, exc.user_message,
                          "Check the firewall result above (Update firewall), then run "
                          "doctor again.", FixAction.UPDATE_FIREWALL)
            for r in _skip_after(Check.SSH, "SSH does not connect."):
                yield r

    @staticmethod
    async def _clock(remote: Remote) -> CheckResult:
        title = TITLES["clock"]
        code, out, _ = await remote.run(ib.CLOCK_COMMAND)
        try:
            theirs = int(out.strip())
        except ValueError:
            return _result("clock", title, CheckState.WARNING,
                           f"`date` did not answer a time (exit {code}).")
        skew = theirs - time.time()
        evidence = (f"The server's clock is {abs(skew):.0f} s "
                    f"{'ahead of' if skew > 0 else 'behind'} this computer's.")
        if abs(skew) <= CLOCK_WARN_SECONDS:
            return _result("clock", title, CheckState.OK, evidence)
        fix = ("Check this computer's clock first; if it is right, re-enable time sync on the "
               "server (systemd-timesyncd) or reconnect the account.")
        state = CheckState.WARNING if abs(skew) <= CLOCK_FAIL_SECONDS else CheckState.FAILED
        return _result("clock", title, state,
                       evidence + (" 2FA codes made there are refused."
                                   if state is CheckState.FAILED else ""), fix)

    @staticmethod
    async def _container(remote: Remote, account: Account,
                         refusal: IBeamVerdict | None) -> CheckResult:
        title = TITLES["container"]
        code, out, err = await remote.run(ib.CONTAINER_STATE_COMMAND)
        state = out.strip()
        if code == 0 and state == "running":
            return _result("container", title, CheckState.OK, "The `ibeam` container is running.")
        if refusal is not None:
            reason, fix = VERDICTS[refusal]
            who = ("ibdesk's failed-login guard stopped IBeam"
                   if account.login_refused is not None else "IBeam stopped")
            return _result("container", title, CheckState.FAILED, f"{who}: {reason}", fix,
                           FixAction.NEW_PASSWORD
                           if refusal is IBeamVerdict.PASSWORD_REFUSED else None)
        if not account.ibeam_started:
            # the connect never delivered IBeam's settings: a restart has nothing to start
            # (it failed with a raw "/etc/ibeam/env.list: No such file or directory")
            return _result("container", title, CheckState.FAILED,
                           "ibdesk has not delivered IBeam's settings to this server yet: "
                           "its setup did not finish.", _UNFINISHED.format(id=account.id))
        if code == 0:
            return _result("container", title, CheckState.FAILED,
                           f"The `ibeam` container is {state or 'in an unknown state'}; IBeam "
                           "stops itself after too many refused logins (see the log check).",
                           "Fix the cause in the log check, then restart IBeam.",
                           FixAction.RESTART_IBEAM)
        return _result("container", title, CheckState.FAILED,
                       f"No `ibeam` container on the server ({clip(err) or code}).",
                       "Restart IBeam; if it is still missing, reconnect the account.",
                       FixAction.RESTART_IBEAM)

    @staticmethod
    async def _log(remote: Remote) -> list[CheckResult]:
        # 1,000 lines: IBeam's health server logs every request it answers (each probe
        # adds one or two lines), so a cause can be a few hundred lines back
        code, out, err = await remote.run(ib.logs_command(1000))
        if code != 0:
            return [_result("log", TITLES["log"], CheckState.WARNING,
                            f"Could not read IBeam's log ({clip(err) or code}).")]
        findings = recognise(out)
        if not findings:
            lines = len(out.splitlines())
            return [_result("log", TITLES["log"], CheckState.OK,
                            f"No known problem in the last {lines} lines.")]
        return [_result(f"log:{f.cause.value}", f"IBeam's log: {f.title}", f.state,
                        f"{f.meaning} Seen {f.count}× since IBeam started; last: {f.line}",
                        f.fix, f.action) for f in findings]

    # ------------------------------------------------------------------ fixes
    async def apply(self, action: FixAction, account_id: str | None = None, *,
                    password: str | None = None) -> str:
        """Apply one of the fixes ibdesk can make itself; returns what was done."""
        if action is FixAction.UPDATE_FIREWALL:
            address = await public_address(self._rt.settings.public_ip_url)
            if address is None:
                raise InvalidInput("This computer's public address could not be found, so "
                                   "the firewall was left as it is.")
            token = await in_thread(TokenService(self._rt).require)
            async with self._rt.cloud(token) as do:
                result = await ensure_firewall(do, address, home=self._rt.settings.home)
            return f"The firewall now admits SSH from {', '.join(result.sources)}."
        if account_id is None:
            raise InvalidInput("This fix needs an account.")
        if action is FixAction.RESTART_IBEAM:
            account = await self._rt.store.require_account(account_id)
            if not account.ibeam_started:
                raise InvalidInput("IBeam cannot be restarted on this server: its setup did "
                                   "not finish. " + _UNFINISHED.format(id=account_id))
            async with RemoteAccess(self._rt).open(account) as remote:
                await ibeam_control.start(remote, account)
            return "IBeam restarted; it logs in within a minute or two."
        if action is FixAction.START_SERVER:
            from ibdesk.services.control.lifecycle import Lifecycle

            await Lifecycle(self._rt).start(account_id)
            return "The server is starting."
        if action is FixAction.NEW_PASSWORD:
            if not password:
                raise InvalidInput("Enter the new IBKR password.")
            from ibdesk.services.control.credentials import change_password

            await change_password(self._rt, account_id, password)
            return "New password delivered; IBeam is logging in again."
        raise InvalidInput(f"Unknown fix: {action}")


def _unreached(check: Check) -> CheckResult:
    waited = check.requires
    return _skip(check.value, f"Needs “{waited.label}” to pass first." if waited else
                 "Not reached (an earlier check stopped the run).")


def _no_restart(result: CheckResult, refusal: IBeamVerdict | None) -> CheckResult:
    """While a refusal is on record, no check offers to restart IBeam: a restart would
    send the refused password to IBKR again (and ibeam_control.start would refuse it)."""
    if refusal is None or result.action is not FixAction.RESTART_IBEAM:
        return result
    if refusal is IBeamVerdict.PASSWORD_REFUSED:
        return result.model_copy(update={
            "action": FixAction.NEW_PASSWORD,
            "fix": "IBKR refused the password on record: give ibdesk the current one (New "
                   "password…); IBeam is not restarted with the refused one."})
    return result.model_copy(update={"action": None, "fix": VERDICTS[refusal][1]})


def _fingerprint(host_key: str) -> str:
    import base64
    import hashlib

    try:
        blob = base64.b64decode(host_key.split()[1])
    except (IndexError, ValueError):
        return "(unknown)"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _gateway_results(seen: Inspection) -> list[CheckResult]:
    out: list[CheckResult] = []
    live = seen.livez
    if live.status == 200:
        out.append(_result("livez", TITLES["livez"], CheckState.OK, "/livez answered 200."))
    else:
        out.append(_result("livez", TITLES["livez"], CheckState.FAILED,
                           f"/livez answered {live.status or live.error} — IBeam is shutting "
                           "down or not running.", "Restart IBeam.", FixAction.RESTART_IBEAM))
    ready = seen.readyz
    if ready.status == 200:
        out.append(_result("readyz", TITLES["readyz"], CheckState.OK,
                           "/readyz answered 200: the gateway is logged in."))
    else:
        out.append(_result("readyz", TITLES["readyz"], CheckState.FAILED,
                           f"/readyz answered {ready.status or ready.error}: not logged in to "
                           "IBKR.", "See the auth status and log checks for why."))
    auth = seen.auth_status
    title = TITLES["auth"]
    if auth.status == 200 and auth.json:
        data = auth.json
        flags = (f"authenticated={bool(data.get('authenticated'))}, "
                 f"connected={bool(data.get('connected'))}, "
                 f"competing={bool(data.get('competing'))}, "
                 f"message={str(data.get('message') or '')!r}")
        if data.get("authenticated") and data.get("competing"):
            out.append(_result("auth", title, CheckState.WARNING, flags,
                               "Another login with this username competes; log it out."))
        elif data.get("authenticated"):
            out.append(_result("auth", title, CheckState.OK, flags))
        else:
            out.append(_result("auth", title, CheckState.FAILED, flags,
                               "Not logged in; the log check below says why."))
    elif "access denied" in auth.body.lower():
        out.append(_result("auth", title, CheckState.FAILED,
                           f"The gateway answered {auth.status} \"Access Denied\": its IP allow "
                           "list refuses requests arriving through the SSH tunnel.",
                           "Restore IBeam's default allow list (10.*, 192.*, 172.*, 127.0.0.1) "
                           "in the gateway's conf.yaml and restart IBeam.",
                           FixAction.RESTART_IBEAM))
    else:
        out.append(_result("auth", title, CheckState.FAILED,
                           f"The gateway answered {auth.status or auth.error}.",
                           "Restart IBeam if this persists.", FixAction.RESTART_IBEAM))
    return out


__all__ = ["CLOCK_FAIL_SECONDS", "CLOCK_WARN_SECONDS", "Doctor"]
