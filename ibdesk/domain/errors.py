"""ibdesk's one error tree.

Every layer raises these, so that a front end can catch `IbdeskError` and show
`user_message` without knowing which adapter failed. Adapters translate library errors
at their boundary (`raise CloudAuthError(...) from exc`).

    IbdeskError
    ├── ConfigError                 a setting has an invalid value
    ├── InvalidInput                what the person entered cannot work (live without 2FA …)
    ├── CloudError                  DigitalOcean said no, or could not be reached
    │   ├── CloudAuthError          token invalid, expired or missing a scope
    │   ├── RateLimited             429 after waiting as told
    │   ├── NotFound                404 (droplet, image, key … is not there)
    │   ├── QuotaExceeded           droplet limit reached
    │   ├── InvalidRequest          422/400 (size not in region, bad name …)
    │   └── CloudUnavailable        network error, timeout, 5xx after retries
    ├── GatewayError                the IBeam gateway misbehaves
    │   ├── GatewayUnreachable
    │   └── LoginRefused
    ├── OperationBusy               another live ibdesk run is carrying the operation on
    ├── OperationLost               this run no longer owns its operation (taken over, deleted)
    ├── SecretsError                the OS keyring failed
    │   └── KeyringUnavailable      no usable keyring backend at all
    └── StoreError                  the local database cannot be used
        ├── DatabaseTooNew          written by a newer ibdesk
        └── DatabaseCorrupt         not a readable SQLite database

No error text ever holds a secret: messages are built from ids, names and
DigitalOcean's own error fields, never from request headers or bodies.
"""

from __future__ import annotations

from typing import Any


class IbdeskError(Exception):
    """Base of every error ibdesk raises on purpose.

    `user_message` is a sentence a trader understands; `context` holds ids (account,
    droplet, request) for logs and support bundles.
    """

    default_message = "Something went wrong."

    def __init__(self, user_message: str | None = None, **context: Any) -> None:
        self.user_message = user_message or self.default_message
        self.context = {k: v for k, v in context.items() if v is not None}
        super().__init__(self.user_message)

    def __str__(self) -> str:
        return self.user_message

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.context.items())
        return f"{type(self).__name__}({self.user_message!r}{extra})"


class ConfigError(IbdeskError):
    default_message = "A setting has an invalid value."


class InvalidInput(IbdeskError):
    default_message = "That input cannot be used."


class AddressUnknown(InvalidInput):
    """This computer's public address could not be found, and opening SSH to everyone was
    not allowed: the window asks the person, the CLI names --allow-ssh-from-anywhere."""


class CloudError(IbdeskError):
    """DigitalOcean answered with an error, or could not be reached.

    Carries DigitalOcean's own `id`, `message` and `request_id` (what its support asks
    for) next to the plain-words `user_message`.
    """

    default_message = "DigitalOcean could not complete the request."

    def __init__(
        self,
        user_message: str | None = None,
        *,
        status_code: int | None = None,
        error_id: str | None = None,
        api_message: str | None = None,
        request_id: str | None = None,
        **context: Any,
    ) -> None:
        self.status_code = status_code
        self.error_id = error_id
        self.api_message = api_message
        self.request_id = request_id
        super().__init__(
            user_message,
            status_code=status_code,
            error_id=error_id,
            api_message=api_message,
            request_id=request_id,
            **context,
        )


class CloudAuthError(CloudError):
    default_message = (
        "DigitalOcean refused the API token. Check that it is copied whole, not expired or "
        "revoked, and has read and write scope."
    )


class RateLimited(CloudError):
    default_message = (
        "DigitalOcean's request limit for this token is reached. ibdesk will try again "
        "when the limit resets."
    )

    def __init__(self, user_message: str | None = None, *, retry_after: float | None = None,
                 **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(user_message, **kwargs)


class NotFound(CloudError):
    default_message = "DigitalOcean has no such resource."


class QuotaExceeded(CloudError):
    default_message = (
        "Your DigitalOcean account has reached its droplet limit. Delete a droplet you no "
        "longer need or ask DigitalOcean to raise the limit."
    )


class InvalidRequest(CloudError):
    default_message = "DigitalOcean did not accept the request."


class CloudUnavailable(CloudError):
    default_message = (
        "DigitalOcean could not be reached. Check the internet connection; ibdesk retries "
        "by itself."
    )


class GatewayError(IbdeskError):
    default_message = "The IBKR gateway did not answer as expected."


class GatewayUnreachable(GatewayError):
    default_message = "The IBKR gateway on the server cannot be reached."


class LoginRefused(GatewayError):
    default_message = "IBKR refused the login. Check the username and password."


class OperationBusy(IbdeskError):
    default_message = ("Another ibdesk process is working on this account right now; wait "
                       "for it to finish.")


class OperationLost(IbdeskError):
    default_message = ("This operation was taken over or cancelled elsewhere; this run "
                       "stopped without changing anything more.")


class SecretsError(IbdeskError):
    default_message = "The system keyring could not be used."


class KeyringUnavailable(SecretsError):
    default_message = "No system keyring is available to keep ibdesk's secrets."


class StoreError(IbdeskError):
    default_message = "ibdesk's local database cannot be used."


class DatabaseTooNew(StoreError):
    default_message = "ibdesk's database was written by a newer version of ibdesk."


class DatabaseCorrupt(StoreError):
    default_message = "ibdesk's database file is damaged."


__all__ = [
    "AddressUnknown",
    "CloudAuthError",
    "CloudError",
    "CloudUnavailable",
    "ConfigError",
    "DatabaseCorrupt",
    "DatabaseTooNew",
    "GatewayError",
    "GatewayUnreachable",
    "IbdeskError",
    "InvalidInput",
    "InvalidRequest",
    "KeyringUnavailable",
    "LoginRefused",
    "NotFound",
    "OperationBusy",
    "OperationLost",
    "QuotaExceeded",
    "RateLimited",
    "SecretsError",
    "StoreError",
]
