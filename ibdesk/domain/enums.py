"""The domain's closed sets, apart from the models: plain enums, cheap to import (the
command line's parser offers their values as choices without loading pydantic)."""

from __future__ import annotations

from enum import StrEnum


class Environment(StrEnum):
    """Which IBKR login the gateway signs into.

    `demo` is IBKR's free-trial/demo login (no funded account); it logs in like a
    paper account but is a separate username. `paper` sets IBeam's paper flag; `live`
    trades real money and needs a 2FA handler.
    """

    DEMO = "demo"
    PAPER = "paper"
    LIVE = "live"


class ServerStatus(StrEnum):
    """The user-facing status of an account's server (DESIGN.md, "Status model")."""

    PROVISIONING = "provisioning"
    INITIALIZING = "initializing"
    RUNNING = "running"
    STOPPED = "stopped"
    ERROR = "error"


class DropletState(StrEnum):
    """DigitalOcean's own droplet `status` values."""

    NEW = "new"
    ACTIVE = "active"
    OFF = "off"
    ARCHIVE = "archive"


class TwoFactorHandler(StrEnum):
    """IBeam's `IBEAM_TWO_FA_HANDLER` choices."""

    PYOTP = "PYOTP"
    EXTERNAL_REQUEST = "EXTERNAL_REQUEST"
    NOTIFICATION_RESEND = "NOTIFICATION_RESEND"
    GOOGLE_MSG = "GOOGLE_MSG"
    CUSTOM_HANDLER = "CUSTOM_HANDLER"


class IBeamVerdict(StrEnum):
    """Why IBeam cannot, or must not, log in: read in its log since its last start
    (`domain.diagnosis.verdict`). Each is a stop, not a wait: grace periods do not apply."""

    PASSWORD_REFUSED = "password_refused"
    """IBKR refused the username or password (ibdesk stops IBeam: a lockout guard)."""
    CODES_REFUSED = "codes_refused"
    """IBKR refused MAX_REFUSED_CODES 2FA codes (ibdesk stops IBeam: IBeam never counts
    them and would retry for ever)."""
    NO_TWO_FA_HANDLER = "no_two_fa_handler"
    """IBKR asked for a second factor and IBeam had no handler: IBeam shut down."""
    SECRETS_UNREADABLE = "secrets_unreadable"
    """IBeam could not read its login files (owner or mode wrong): it shut down."""
    OUTPUTS_UNWRITABLE = "outputs_unwritable"
    """IBeam could not write its log file: it stopped before its first line."""
    TWO_FA_MISCONFIGURED = "two_fa_misconfigured"
    """The 2FA handler cannot start (PYOTP without its secret): IBeam stopped."""

    @property
    def guarded(self) -> bool:
        """ibdesk itself stops IBeam for these (IBeam would keep trying)."""
        return self in (IBeamVerdict.PASSWORD_REFUSED, IBeamVerdict.CODES_REFUSED)


class OperationState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


__all__ = ["DropletState", "Environment", "IBeamVerdict", "OperationState", "ServerStatus",
           "TwoFactorHandler"]
