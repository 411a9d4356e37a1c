"""Connecting an IBKR login: from a form to a running, logged-in IBeam on its own droplet.

The sequence is persisted, so a crash or a closed window resumes instead of starting
over: the account and a unique request tag are recorded before anything is created;
everything created carries that tag; each step first looks for what an earlier attempt
already made (by tag, by fingerprint, by name) and only then creates. A droplet is
therefore never created twice for one request.

Secrets go to the keyring, then over SSH into files only IBeam's container user can read;
user_data carries none. IBeam is told to give up after two refused logins and to try
once per maintenance run; when ibdesk sees IBKR refuse the password, or refuse
MAX_REFUSED_CODES 2FA codes, it stops IBeam at once, so a wrong password or a wrong
authenticator secret never locks the IBKR username.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from ibdesk.cloud import DigitalOceanClient, Droplet, DropletCreate
from ibdesk.cloud.public_ip import public_address
from ibdesk.cloud.userdata import render_cloud_init
from ibdesk.domain import ibeam as ib
from ibdesk.domain.backoff import Backoff
from ibdesk.domain.cloudinit import CloudInitStatus, parse_status
from ibdesk.domain.errors import (
    AddressUnknown,
    CloudError,
    CloudUnavailable,
    GatewayError,
    IbdeskError,
    InvalidInput,
    LoginRefused,
    NotFound,
    OperationLost,
    QuotaExceeded,
)
from ibdesk.domain.models import (
    Account,
    DropletState,
    Environment,
    IBeamVerdict,
    OperationOwner,
    OperationState,
    PendingOperation,
    ServerStatus,
    TwoFactorHandler,
    new_account_id,
)
from ibdesk.domain.naming import (
    APP_TAG,
    account_tag,
    installation_tag,
    next_droplet_name,
    request_tag,
)
from ibdesk.domain.status import Observation, derive_status
from ibdesk.domain.totp import normalise_totp_secret
from ibdesk.gateway import Remote, probe
from ibdesk.secrets import ibkr_password, totp_secret
from ibdesk.services import ownership
from ibdesk.services.connect.catalogue import ServerPlan, plan_server
from ibdesk.services.connect.firewall import NO_ADDRESS, ensure_firewall
from ibdesk.services.control import ibeam_control
from ibdesk.services.control import local_port as ports
from ibdesk.services.installation import installation_id
from ibdesk.services.keys import AppKey
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime
from ibdesk.services.testhooks import pause_point
from ibdesk.services.token import TokenService

log = logging.getLogger(__name__)

IBEAM_VERSION_LABEL = ib.IBEAM_IMAGE.rsplit(":", 1)[1]


class Step(StrEnum):
    RECORD = "record"
    SECRETS = "secrets"
    SSH_KEY = "ssh_key"
    FIREWALL = "firewall"
    DROPLET = "droplet"
    ACTIVE = "active"
    DELIVER = "deliver"
    GATEWAY = "gateway"


STEP_TITLES = {
    Step.RECORD: "Recording the account",
    Step.SECRETS: "Keeping the password in the system keyring",
    Step.SSH_KEY: "Registering ibdesk's SSH key",
    Step.FIREWALL: "Closing the server's firewall to all but SSH from this computer",
    Step.DROPLET: "Creating the server",
    Step.ACTIVE: "Waiting for the server to boot",
    Step.DELIVER: "Delivering IBeam's settings over SSH and starting it",
    Step.GATEWAY: "Waiting for IBeam to log in to IBKR",
}


class StepState(StrEnum):
    """Where a step is, as the wizard's list and the CLI's lines show it."""

    STARTED = "started"
    WAITING = "waiting"
    """Still going, with news (waiting for SSH, for IBeam's login)."""
    WARNING = "warning"
    """Done, with something the person should know (kept on screen)."""
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Progress:
    step: Step
    state: StepState
    message: str
    index: int = 0
    total: int = len(Step)
    account_id: str | None = None
    """Once the account is recorded (what a "stop and delete" must delete)."""


@dataclass
class ConnectRequest:
    username: str
    password: str = field(repr=False)
    environment: Environment
    region: str | None = None
    size: str | None = None
    image: str | None = None
    two_fa_handler: TwoFactorHandler | None = None
    totp_secret: str | None = field(default=None, repr=False)
    allow_ssh_from_anywhere: bool = False
    """When this computer's public address cannot be found, open the server's SSH to every
    address (key-only logins) instead of stopping: only when the person said so."""
    local_port: int | None = None
    """The account's port on this computer (https://localhost:PORT); None: the first free
    from 5000 up."""


@dataclass
class Timing:
    active_timeout: float = 600.0
    ssh_timeout: float = 600.0
    first_boot_timeout: float = 1200.0
    """Installing Docker and pulling IBeam (about 2-4 minutes on a real droplet)."""
    gateway_timeout: float = 600.0
    poll: float = 1.0
    poll_cap: float = 5.0


def validate(request: ConnectRequest) -> None:
    """Refuse what cannot work before anything is recorded or created (and write the TOTP
    secret the way IBeam needs it)."""
    username = request.username
    if not username or username != username.strip() or any(ord(c) < 32 for c in username):
        raise InvalidInput("Enter the IBKR username without spaces around it.")
    if not request.password:
        raise InvalidInput("Enter the IBKR password.")
    try:
        ib.check_deliverable(request.password)
    except ValueError as exc:
        raise InvalidInput(f"This password cannot be used: {exc}.") from None
    handler = request.two_fa_handler
    if handler in ib.UNWORKABLE_TWO_FA:
        raise InvalidInput(
            f"The {handler} 2FA handler cannot work here: it {ib.UNWORKABLE_TWO_FA[handler]}. "
            "Choose PYOTP with the authenticator (TOTP) secret from IBKR's mobile "
            "authenticator setup.")
    if request.environment is Environment.LIVE and handler is None:
        raise InvalidInput(
            "A live login needs a 2FA handler: IBKR asks every live login for a second factor "
            "and IBeam shuts down at that prompt without one. Choose PYOTP with the "
            "authenticator (TOTP) secret.")
    if request.two_fa_handler is TwoFactorHandler.PYOTP and not request.totp_secret:
        raise InvalidInput("The PYOTP 2FA handler needs the authenticator (TOTP) secret.")
    if request.totp_secret and any(c in request.totp_secret for c in "\r\n"):
        raise InvalidInput("The TOTP secret must be one line.")
    if request.totp_secret:
        try:  # as IBeam's pyotp needs it: no spaces, upper case (stored so)
            request.totp_secret = normalise_totp_secret(request.totp_secret)
        except ValueError as exc:
            raise InvalidInput(
                f"This authenticator (TOTP) secret cannot work: {exc}. Copy it again from "
                "IBKR's authenticator setup (the text under the QR code).") from None


class Provisioner:
    """Runs (and resumes) the connect sequence for one account at a time."""

    def __init__(self, rt: Runtime, on_progress: Callable[[Progress], None] | None = None,
                 timing: Timing | None = None) -> None:
        self._rt = rt
        self._on_progress = on_progress
        self.timing = timing or Timing()
        self.warnings: list[str] = []
        self._plan_warnings: list[str] = []
        self._new_login = True
        """The password was given in this run (a connect, a resume with a new one): only
        then may IBeam start past a refusal on record."""
        self.account_id: str | None = None
        """Set once the account is recorded: after a failure, what to retry or delete."""
        self._owner: OperationOwner = ownership.new_owner()
        """This run: the one owner of its operation while it works (see `ownership`)."""

    # ------------------------------------------------------------------ reporting
    def _report(self, step: Step, state: StepState | str, message: str | None = None) -> None:
        index = list(Step).index(step) + 1
        state = StepState(state)  # a name nobody defined fails here, not on screen
        event = Progress(step, state, message or STEP_TITLES[step], index,
                         account_id=getattr(self, "account_id", None))
        if state is StepState.WARNING:
            self.warnings.append(event.message)
        log.info("connect step %d/%d %s: %s", index, len(Step), state, event.message)
        if self._on_progress is not None:
            self._on_progress(event)
        if state is StepState.DONE:
            pause_point(f"connect:{step.value}")

    # ------------------------------------------------------------------ entry points
    async def connect(self, request: ConnectRequest, *, wait: bool = True) -> Account:
        """Run the whole sequence; with `wait=False`, return once the server is requested
        (the operation stays pending and `resume` carries it on)."""
        validate(request)
        self._owner = ownership.new_owner()
        await in_thread(self._rt.secrets.check)  # a missing keyring stops us first
        token = await in_thread(TokenService(self._rt).require)
        settings = self._rt.settings
        env = request.environment
        region = request.region or settings.region
        size = request.size or (settings.demo_size if env is Environment.DEMO else settings.size)
        plan = await self._preflight(token, region, size, request.image or settings.image_id)
        if not request.allow_ssh_from_anywhere and \
                await public_address(settings.public_ip_url) is None:
            raise AddressUnknown(NO_ADDRESS)  # asked before anything is recorded or made
        self._plan_warnings = list(plan.warnings)  # said when the server is created
        image = plan.image
        port = request.local_port  # None: the first free, given as the account is written
        if port is not None:
            await in_thread(ports.refuse_held, port)
        account = Account(id=new_account_id(env), username=request.username, environment=env,
                          two_fa_handler=request.two_fa_handler, do_region=region,
                          do_size=size, do_image=str(image), local_port=port)
        tag = request_tag(uuid.uuid4().hex[:16])
        store = self._rt.store
        self._report(Step.RECORD, "started")
        with ownership.running(self._owner):
            try:
                account = await store.add_account(
                    account, f"Connect started for {request.username} ({env.value}).",
                    operation=(tag, "connect", {"region": region, "size": size,
                                                "image": str(image), "seed_image": plan.seed,
                                                "allow_anywhere":
                                                    request.allow_ssh_from_anywhere}),
                    owner=self._owner, port_skip=ports.listening)
                self.account_id = account.id
                self._report(Step.RECORD, "done", f"Recorded account {account.id}")
                try:
                    self._report(Step.SECRETS, "started")
                    await in_thread(self._rt.secrets.set, ibkr_password(account.id),
                                    request.password)
                    if request.totp_secret:
                        await in_thread(self._rt.secrets.set, totp_secret(account.id),
                                        request.totp_secret)
                    await self._step(tag, Step.SECRETS)
                    self._report(Step.SECRETS, "done")
                except IbdeskError as exc:
                    await self._fail(account.id, tag, exc)
                    raise
                return await self._run(account.id, tag, token, wait=wait)
            finally:
                if self.account_id is not None:
                    await self._release(tag)

    async def _preflight(self, token: str, region: str, size: str,
                         image: str | int) -> ServerPlan:
        """Token valid, account usable, a droplet left under the limit, and a region, size
        and image DigitalOcean will accept together: checked before anything is recorded
        or created, so these refusals leave nothing behind."""
        async with self._rt.cloud(token) as do:
            account = await do.get_account()
            if account.status == "locked":
                raise CloudError("Your DigitalOcean account is locked: "
                                 f"{account.status_message or 'see the control panel'}.")
            used = len(await do.list_droplets())
            if used >= account.droplet_limit:
                raise QuotaExceeded(
                    f"Your DigitalOcean account already has {used} of its "
                    f"{account.droplet_limit} droplets. Delete one you no longer need, or ask "
                    "DigitalOcean to raise the limit.")
            return await plan_server(do, region, size, image)

    async def resume(self, account_id: str, *, new_password: str | None = None) -> Account:
        """Carry a pending or failed connect on from where it stopped; with `new_password`
        (after IBKR refused the old one) it is stored and delivered again.

        The operation is claimed first (compare-and-set): while another live run carries
        it on, this one stops with OperationBusy before touching anything."""
        self.account_id = account_id
        self._owner = ownership.new_owner()
        with ownership.running(self._owner):
            tag: str | None = None
            try:
                tag = await self._claim(account_id)
                return await self._resume(account_id, tag, new_password)
            finally:
                if tag is not None:
                    await self._release(tag)

    async def rebuild(self, account_id: str) -> Account:
        """Create a parked account's server again (a rebuild schedule's morning, or a
        person's Start): the sequence of a connect from its SSH key on, with the region,
        size and image of the account's last connect and the login already in the
        keyring. It is a connect operation of its own (one owner; a delete supersedes it).

        Never past a refused login: IBeam is not started with a password IBKR refused
        (the trader enters a new one first)."""
        self.account_id = account_id
        self._owner = ownership.new_owner()
        self._new_login = False
        store = self._rt.store
        account = await store.require_account(account_id)
        if account.login_refused is not None:
            raise InvalidInput(f"IBKR refused the login of {account_id} last time, and "
                               "ibdesk never starts IBeam again with a refused password: "
                               "enter it again (New password…, or ibdesk password) first.")
        if account.do_droplet_id is not None:
            raise InvalidInput(f"{account_id} has a server already; start it instead.")
        before = [o for o in await store.operations(states=tuple(OperationState),
                                                    account_id=account_id)
                  if o.kind == "connect"]
        last = before[-1].payload if before else {}
        settings = self._rt.settings
        payload = {"region": last.get("region", account.do_region or settings.region),
                   "size": last.get("size", account.do_size or settings.size),
                   "image": last.get("image", account.do_image or settings.image_id),
                   "seed_image": bool(last.get("seed_image", False)),
                   "allow_anywhere": bool(last.get("allow_anywhere", False)),
                   "rebuild": True}
        token = await in_thread(TokenService(self._rt).require)
        tag = request_tag(uuid.uuid4().hex[:16])
        with ownership.running(self._owner):
            await store.begin_operation(tag, account_id, "connect", payload, owner=self._owner)
            try:
                await self._step(tag, Step.SECRETS)  # in the keyring since the first connect
                return await self._run(account_id, tag, token)
            finally:
                await self._release(tag)

    async def _claim(self, account_id: str) -> str:
        store = self._rt.store
        ops = await store.operations(states=(OperationState.PENDING,
                                                       OperationState.FAILED),
                              account_id=account_id)
        op = next((o for o in reversed(ops) if o.kind == "connect"), None)
        if op is None:
            raise InvalidInput(f"There is no unfinished connect for {account_id}.")
        await store.claim_operation(op.request_tag, self._owner,
                        alive=ownership.is_alive)
        return op.request_tag

    async def _release(self, tag: str) -> None:
        try:
            await asyncio.shield(self._rt.store.release_operation(tag,
                                           self._owner))
        except Exception:  # noqa: BLE001 - the run is over either way; a dead owner is
            log.warning("could not release operation %s", tag, exc_info=True)  # taken over

    async def _step(self, tag: str, step: Step, **payload: Any) -> PendingOperation:
        """Record a finished step, only while this run still owns the operation."""
        return await self._rt.store.update_operation(tag, step=step.value,
                                                     as_owner=self._owner, **payload)

    async def _check_owned(self, tag: str) -> None:
        """Before a step that creates or changes something: stop (OperationLost) if a
        delete or another run has taken the operation meanwhile."""
        await self._rt.store.update_operation(tag, as_owner=self._owner)

    async def _resume(self, account_id: str, tag: str, new_password: str | None) -> Account:
        store = self._rt.store
        account = await store.require_account(account_id)
        mark = account.login_refused
        if mark is IBeamVerdict.CODES_REFUSED:
            raise InvalidInput("IBKR refused this server's 2FA codes: the authenticator secret "
                               f"is wrong. Delete {account_id} and connect it again with the "
                               "right secret.")
        self._new_login = new_password is not None
        if mark and new_password is None:
            raise InvalidInput("IBKR refused the password last time, and ibdesk never starts "
                               "IBeam again with a refused password: enter it again to "
                               "resume (New password…, or --password-stdin).")
        if new_password is not None:
            try:
                ib.check_deliverable(new_password)
            except ValueError as exc:
                raise InvalidInput(f"This password cannot be used: {exc}.") from None
            await in_thread(self._rt.secrets.set, ibkr_password(account_id), new_password)
            if mark:
                await store.update_account(account_id, login_refused=None)
        token = await in_thread(TokenService(self._rt).require)
        return await self._run(account_id, tag, token)

    # ------------------------------------------------------------------ the sequence
    async def _run(self, account_id: str, tag: str, token: str, *, wait: bool = True) -> Account:
        store = self._rt.store
        try:
            async with self._rt.cloud(token) as do:
                await self._check_owned(tag)
                self._report(Step.SSH_KEY, "started")
                key_id = await AppKey(self._rt.secrets).ensure_registered(do)
                await self._step(tag, Step.SSH_KEY, ssh_key_id=key_id)
                self._report(Step.SSH_KEY, "done")

                self._report(Step.FIREWALL, "started")
                address = await public_address(self._rt.settings.public_ip_url)
                current = await self._rt.store.get_operation(tag)
                fw = await ensure_firewall(
                    do, address, home=self._rt.settings.home,
                    allow_anywhere=bool(current and current.payload.get("allow_anywhere")))
                op = await self._step(tag, Step.FIREWALL, firewall_id=fw.firewall.id)
                if fw.warning:
                    self._report(Step.FIREWALL, "warning", fw.warning)
                self._report(Step.FIREWALL, "done",
                             f"SSH admitted from {', '.join(fw.sources)} only")

                droplet = await self._ensure_droplet(do, account_id, op, key_id)
                if not wait:
                    return await store.require_account(account_id)
                droplet = await self._wait_active(do, account_id, tag, droplet)
            account = await store.require_account(account_id)
            await self._deliver(account, tag)
            account = await self._wait_gateway(account_id, tag)
        except IbdeskError as exc:
            await self._fail(account_id, tag, exc)
            raise
        await store.update_operation(tag, state=OperationState.DONE,
                        step=Step.GATEWAY.value, as_owner=self._owner)
        return account

    async def _fail(self, account_id: str, tag: str, exc: IbdeskError) -> None:
        """Record the failure, unless the operation is no longer this run's: then whoever
        took it (a delete, another run) decides what the account shows."""
        if isinstance(exc, OperationLost):
            return
        store = self._rt.store
        try:
            await store.update_operation(tag, state=OperationState.FAILED,
                            error=exc.user_message, as_owner=self._owner)
        except OperationLost:
            return
        if await store.get_account(account_id) is not None:
            await store.record_status(account_id, ServerStatus.ERROR,
                            exc.user_message)

    async def _ensure_droplet(self, do: DigitalOceanClient, account_id: str,
                              op: PendingOperation, key_id: int) -> Droplet:
        store = self._rt.store
        self._report(Step.DROPLET, "started")
        existing = await do.list_droplets(tag_name=op.request_tag)
        if existing:  # an earlier attempt created it: never a second one
            droplet = existing[0]
            self._report(Step.DROPLET, "done", f"Found server {droplet.name} from before")
        else:
            account = await store.require_account(account_id)
            # asked again: a resume may come days later, after DigitalOcean changed
            plan = await plan_server(do, str(op.payload["region"]), str(op.payload["size"]),
                                     op.payload["image"])
            for warning in dict.fromkeys([*self._plan_warnings, *plan.warnings]):
                self._report(Step.DROPLET, "warning", warning)
            size = plan.size
            taken = await store.droplet_names()
            taken += [d.name for d in await do.list_droplets(tag_name=APP_TAG)]
            name = next_droplet_name(account.username, account.environment, taken)
            user_data = None if plan.seed else render_cloud_init(
                swap_mb=1024 if size.memory <= 1024 else 0)
            tags = [APP_TAG, account_tag(account_id), op.request_tag,
                    installation_tag(await in_thread(installation_id, self._rt.settings.home))]
            await self._check_owned(op.request_tag)  # the last moment before billing starts
            try:
                droplet, _ = await do.create_droplet(DropletCreate(
                    name=name, region=plan.region, size=size.slug, image=plan.image,
                    ssh_keys=[key_id], tags=tags, monitoring=True, user_data=user_data))
            except CloudUnavailable:
                # The request may have reached DigitalOcean and only its answer been lost:
                # a droplet with this request's tag says so (and is never made twice).
                made = await self._made_anyway(do, op.request_tag)
                if made is None:
                    raise
                droplet = made
                self._report(Step.DROPLET, "warning",
                             "DigitalOcean's answer to the create was lost; ibdesk found the "
                             f"server it made ({droplet.name}) by this request's tag")
            await self._step(op.request_tag, Step.DROPLET, droplet_id=droplet.id,
                             price_monthly=size.price_monthly)
            self._report(Step.DROPLET, "done",
                         f"Created {name} ({size.slug} in {plan.region}, {plan.image_label}, "
                         f"${size.price_monthly:g}/month)")
        await store.record_droplet(account_id, droplet_id=droplet.id,
                        name=droplet.name, size=droplet.size_slug,
                        image=str(droplet.image.slug or droplet.image.id),
                        price_monthly=droplet.size.price_monthly,
                        price_hourly=droplet.size.price_hourly)
        await store.record_status(account_id, ServerStatus.PROVISIONING,
                        f"Server {droplet.name} requested.")
        return droplet

    def _waits(self) -> Backoff:
        return Backoff(self.timing.poll, self.timing.poll_cap)

    async def _made_anyway(self, do: DigitalOceanClient, tag: str) -> Droplet | None:
        """The droplet a create with a lost answer made, if any (looked for a few times:
        a droplet appears in listings a moment after it is accepted)."""
        waits = self._waits()
        for _ in range(3):
            try:
                found = await do.list_droplets(tag_name=tag)
            except CloudError:
                found = []
            if found:
                return found[0]
            await asyncio.sleep(next(waits))
        return None

    async def _wait_active(self, do: DigitalOceanClient, account_id: str, tag: str,
                           droplet: Droplet) -> Droplet:
        self._report(Step.ACTIVE, "started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.active_timeout
        waits = self._waits()
        while droplet.status != DropletState.ACTIVE.value or not droplet.public_ipv4:
            if droplet.status in ("off", "archive"):
                raise CloudError(f"The new server is {droplet.status} instead of booting.")
            if loop.time() > deadline:
                raise CloudError("The server did not finish booting in time. Retry to keep "
                                 "waiting, or delete it.")
            await asyncio.sleep(next(waits))
            try:
                droplet = await do.get_droplet(droplet.id)
            except NotFound:
                raise CloudError("The new server disappeared from DigitalOcean while "
                                 "booting.") from None
        store = self._rt.store
        account = await store.require_account(account_id)
        await store.update_account(account_id, do_ip_address=droplet.public_ipv4,
                        active_since=account.active_since or datetime.now(UTC))
        await self._step(tag, Step.ACTIVE)
        self._report(Step.ACTIVE, "done", f"Server is up at {droplet.public_ipv4}")
        return droplet

    async def _deliver(self, account: Account, tag: str) -> None:
        await self._check_owned(tag)
        self._report(Step.DELIVER, "started")
        password = await in_thread(self._rt.secrets.get, ibkr_password(account.id))
        totp = await in_thread(self._rt.secrets.get, totp_secret(account.id))
        if not password:
            raise InvalidInput("The IBKR password is no longer in the keyring. Enter it again.")

        def waiting(reason: str) -> None:
            self._report(Step.DELIVER, "waiting", f"Waiting for SSH: {reason}")

        async with RemoteAccess(self._rt).open(account, wait=self.timing.ssh_timeout,
                                               on_wait=waiting) as remote:
            if not ibeam_control.uses_seed_image(account):  # the account's do_image says
                await self._first_boot(remote)
            await ibeam_control.deliver_login(remote, account, password=password, totp=totp)
            self._report(Step.DELIVER, "waiting", "Starting IBeam")
            await self._check_owned(tag)
            await ibeam_control.start(remote, account, new_login=self._new_login)
        await self._step(tag, Step.DELIVER)
        await self._rt.store.update_account(account.id, ibeam_started=True)
        await self._rt.store.record_status(account.id,
                        ServerStatus.INITIALIZING, "IBeam started; waiting for it to log in.")
        self._report(Step.DELIVER, "done")

    async def _first_boot(self, remote: Remote) -> CloudInitStatus:
        """Wait for cloud-init to finish installing Docker and IBeam, showing how far it
        is; a degraded but completed boot (exit 2) carries on with a warning."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timing.first_boot_timeout
        waits = self._waits()
        while True:
            code, out, err = await remote.run(ib.CLOUD_INIT_STATUS_COMMAND, timeout=60)
            status = parse_status(out, code)
            if status.finished:
                break
            if loop.time() > deadline:
                raise GatewayError(
                    f"The server's first boot (cloud-init) has not finished after "
                    f"{round(self.timing.first_boot_timeout / 60)} minutes. Retry to keep "
                    "waiting; run Diagnose if it stays so.")
            last = await self._boot_progress(remote)
            elapsed = int(loop.time() - started)
            self._report(Step.DELIVER, "waiting",
                         f"First boot: installing Docker and IBeam {IBEAM_VERSION_LABEL} "
                         f"({elapsed // 60}:{elapsed % 60:02d})" + (f" — {last}" if last else ""))
            await asyncio.sleep(next(waits))
        log.info("cloud-init on the new server:\n%s", status.text)
        if status.failed:
            detail = status.errors[0] if status.errors else (err.strip() or status.extended)
            raise GatewayError(f"The server's first-boot setup (cloud-init) failed: "
                               f"{detail[:300]}. Delete the account and connect it again; if "
                               "it fails again, send a support bundle.")
        if status.degraded:
            detail = status.recoverable[0] if status.recoverable else status.extended
            self._report(Step.DELIVER, "warning",
                         f"The first boot finished with a warning from cloud-init "
                         f"({status.extended}): {detail[:200]}. IBeam is set up anyway.")
        return status

    @staticmethod
    async def _boot_progress(remote: Remote) -> str:
        """The last line cloud-init wrote to its output log (what it is doing now)."""
        try:
            tail = await remote.read_file(ib.CLOUD_INIT_OUTPUT_LOG, 2000, tail=True)
        except GatewayError:
            return ""
        lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines()
                 if line.strip()]
        return lines[-1][:120] if lines else ""

    async def _wait_gateway(self, account_id: str, tag: str) -> Account:
        self._report(Step.GATEWAY, "started")
        store = self._rt.store
        account = await store.require_account(account_id)
        started = datetime.now(UTC)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.gateway_timeout
        waits = self._waits()
        async with RemoteAccess(self._rt).open(account, wait=self.timing.ssh_timeout) as remote:
            while True:
                health = await probe(remote)
                decision = derive_status(Observation(
                    now=datetime.now(UTC), droplet_state=DropletState.ACTIVE,
                    gateway_started=True, health=health, active_since=started,
                    startup_grace=timedelta(seconds=self.timing.gateway_timeout)))
                if health.verdict is not None:
                    reason = f"{decision.detail.reason} {decision.detail.fix or ''}".strip()
                    if health.verdict.guarded:  # IBeam would keep trying: stop it now
                        current = await store.require_account(account_id)
                        await ibeam_control.guard(self._rt, remote, current, health.verdict)
                        raise LoginRefused(reason, account_id=account_id)
                    raise GatewayError(reason, account_id=account_id)
                if decision.status is ServerStatus.RUNNING:
                    await store.record_status(account_id, ServerStatus.RUNNING,
                                    decision.detail.reason, detail=decision.detail)
                    message = "IBeam is logged in: the gateway is running"
                    if decision.detail.warning:
                        self._report(Step.GATEWAY, "warning", decision.detail.warning)
                    self._report(Step.GATEWAY, "done", message)
                    return await store.require_account(account_id)
                if decision.status is ServerStatus.ERROR or loop.time() > deadline:
                    raise GatewayError(decision.detail.reason, account_id=account_id)
                self._report(Step.GATEWAY, "waiting", decision.detail.reason)
                await asyncio.sleep(next(waits))


__all__ = ["ConnectRequest", "Progress", "StepState", "Provisioner", "STEP_TITLES",
           "Step", "Timing", "validate"]
