"""The things ibdesk reasons about, as immutable pydantic models.

These are the shapes every layer passes around: the store maps them to rows, the
services produce them, the window displays them. Nothing here does I/O.
"""

from __future__ import annotations

import re
import secrets as _random
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ibdesk.domain.enums import (
    DropletState,
    Environment,
    IBeamVerdict,
    OperationState,
    ServerStatus,
    TwoFactorHandler,
)
from ibdesk.domain.schedule import Schedule, ScheduleMode

ACCOUNT_ID_RE = re.compile(r"^ib-(demo|paper|live)-[0-9a-f]{8}$")


def new_account_id(environment: Environment) -> str:
    """A fresh id in the seed's shape, e.g. `ib-demo-a1b2c3d4`."""
    return f"ib-{Environment(environment).value}-{_random.token_hex(4)}"


AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_RE.pattern)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Account(_Frozen):
    """One IBKR login and the droplet that serves it.

    Field names follow the seed's columns so that old exports stay recognisable.
    Secrets (password, 2FA secret) are never fields here: they live in the keyring.
    """

    id: AccountId
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    environment: Environment
    two_fa_handler: TwoFactorHandler | None = None
    do_droplet_id: int | None = None
    do_droplet_name: str | None = None
    do_server_status: ServerStatus = ServerStatus.PROVISIONING
    do_ip_address: str | None = None
    do_region: str | None = None
    do_size: str | None = None
    do_image: str | None = None
    do_last_status_check: datetime | None = None
    created_at: datetime | None = None
    price_monthly: float | None = None
    """What the server costs a month (USD), from DigitalOcean's size."""
    ibeam_started: bool = False
    """IBeam's settings were delivered and it was started on the recorded droplet."""
    login_refused: IBeamVerdict | None = None
    """The failed-login guard stopped IBeam for this verdict; cleared by a new password."""
    active_since: datetime | None = None
    """When the droplet was first seen active (the start-up grace period counts from it)."""
    unhealthy_since: datetime | None = None
    """When a gateway that had been logged in stopped being so."""
    ssh_host_key: str | None = None
    """The server's SSH host key, pinned on first use, valid for `ssh_host_key_droplet_id`
    only: a new droplet (a resume that had to create one) gets its own pin."""
    ssh_host_key_droplet_id: int | None = None
    local_port: Annotated[int, Field(ge=1024, le=65535)] | None = None
    """Where the account's gateway is on this computer (https://localhost:PORT): chosen
    once, unique across accounts, so a program configured for it always reaches this
    account and never another."""
    keep_tunnel: bool = False
    """The trader opened the tunnel: ibdesk keeps it open and reopens it when it starts."""
    custom_data: dict[str, Any] = Field(default_factory=dict)
    """What other tools (the seed) kept here; ibdesk itself writes real fields."""
    schedule: Schedule = Field(default_factory=Schedule)
    """When the server should be up (always, by default), and what happens out of hours."""
    price_hourly: float | None = None
    """The size's hourly price (USD), from `/v2/sizes`, beside `price_monthly`."""
    parked: ScheduleMode | None = None
    """The schedule (or idle shutdown) has the server down this way: powered off, or
    destroyed until the next window's rebuild. None: it is not parked."""
    parked_at: datetime | None = None
    """When it was parked (by the schedule's clock): windows from then on that never
    brought it up were missed."""
    tunnel_used_at: datetime | None = None
    """When bytes last went through ibdesk's tunnel to this gateway (what idle shutdown
    counts from; ibdesk cannot see a gateway used any other way)."""

    @property
    def host_key_pin(self) -> str | None:
        """The pin for the recorded droplet, if there is one."""
        if self.ssh_host_key and self.ssh_host_key_droplet_id == self.do_droplet_id:
            return self.ssh_host_key
        return None

    @field_validator("username")
    @classmethod
    def _no_blank_username(cls, value: str) -> str:
        if value != value.strip() or not value.strip():
            raise ValueError("the IBKR username must not start or end with spaces")
        if any(ord(ch) < 32 for ch in value):
            raise ValueError("the IBKR username must not hold control characters")
        return value

    @model_validator(mode="after")
    def _id_matches_environment(self) -> Account:
        if self.id.split("-")[1] != self.environment.value:
            raise ValueError(f"account id {self.id} does not match environment {self.environment}")
        return self


class DropletSpan(_Frozen):
    """One droplet's life under an account, with its size's prices: what billing counts."""

    account_id: str
    droplet_id: int
    started_at: datetime
    ended_at: datetime | None = None
    """None while it exists."""
    price_hourly: float
    price_monthly: float


class GatewayHealth(_Frozen):
    """What one probe of an IBeam gateway saw.

    `None` means "not asked / no answer", which is different from `False`.
    """

    checked_at: datetime
    reachable: bool
    livez: bool | None = None
    readyz: bool | None = None
    authenticated: bool | None = None
    connected: bool | None = None
    competing: bool | None = None
    message: str = ""
    verdict: IBeamVerdict | None = None
    """What IBeam's log says stops it, read when the gateway is not logged in."""
    latency_ms: float | None = None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return bool(self.readyz and self.authenticated)

    @property
    def login_refused(self) -> bool:
        return self.verdict is not None and self.verdict.guarded


class StatusDetail(_Frozen):
    """Why an account has its status, in words a trader understands."""

    reason: str
    fix: str | None = None
    warning: str | None = None
    authenticated: bool | None = None
    connected: bool | None = None
    competing: bool | None = None
    gateway_message: str = ""
    checked_at: datetime | None = None
    latency_ms: float | None = None


class StatusEvent(_Frozen):
    """One line of an account's status history."""

    account_id: AccountId
    at: datetime
    status: ServerStatus
    previous: ServerStatus | None = None
    reason: str


class OperationOwner(_Frozen):
    """The one run (of one process on one computer) carrying an operation on.

    `run` is new for every connect, resume, delete or reconcile, so that two runs inside
    one long-lived process (the window) are told apart; `process_started` (the
    process's start time, where the OS says it) tells a live owner from a new process
    that got a dead owner's pid.
    """

    run: str
    pid: int
    host: str
    process_started: float | None = None

    def describe(self) -> str:
        return f"ibdesk process {self.pid} on {self.host}"


class PendingOperation(_Frozen):
    """A multi-step cloud operation, recorded before its first step.

    `request_tag` is put on everything the operation creates, so after a crash the
    reconciler can find what exists and finish or undo it instead of starting over.
    `payload` holds ids and choices (region, size, droplet id), never a secret.
    `owner` is the run carrying it on now (None between runs): a live owner's operation
    is never taken over, a dead owner's can be.
    """

    request_tag: str
    account_id: str
    kind: str
    step: str = "recorded"
    state: OperationState = OperationState.PENDING
    payload: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    owner: OperationOwner | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


__all__ = [
    "ACCOUNT_ID_RE",
    "Account",
    "AccountId",
    "DropletSpan",
    "DropletState",
    "Environment",
    "GatewayHealth",
    "IBeamVerdict",
    "ServerStatus",
    "StatusDetail",
    "StatusEvent",
    "TwoFactorHandler",
    "new_account_id",
    "OperationOwner",
    "OperationState",
    "PendingOperation",
]
