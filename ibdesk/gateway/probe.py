"""One look at an IBeam gateway through an open SSH connection.

Order matters and mirrors what can fail: IBeam's health server (`/livez`, then `/readyz`,
plain HTTP on 5001), then the Client Portal's own word (`/v1/api/iserver/auth/status`,
HTTPS on 5000 with IBKR's self-signed certificate: the channel is already inside SSH, so
the certificate is not what protects it). `/sso/validate` is never called: IBeam uses
it and IBKR allows it once a minute. When the gateway is not logged in, IBeam's recent
log says whether IBKR refused the password.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import GatewayError
from ibdesk.domain.models import GatewayHealth
from ibdesk.gateway.ssh import Remote

REFUSED_MARKERS = ("Invalid username password combination",
                   "Exceeded maximum number of failed authentication attempts")
LOG_COMMAND = "docker logs --tail 50 ibeam"


async def probe(remote: Remote, *, timeout: float = 10.0, read_logs: bool = True) -> GatewayHealth:
    """What the gateway says now; never raises for a gateway problem (it is the answer)."""
    started = time.perf_counter()
    checked_at = datetime.now(UTC)
    fields: dict[str, object] = {"checked_at": checked_at, "reachable": False}
    try:
        health = await remote.forward(ib.HEALTH_PORT)
        gateway = await remote.forward(ib.GATEWAY_PORT)
    except GatewayError as exc:
        return GatewayHealth(**fields, error=exc.user_message)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(timeout=timeout, verify=False) as client:
            base = f"http://127.0.0.1:{health.get_port()}"
            try:
                live = await client.get(f"{base}/livez")
            except httpx.HTTPError:
                fields["error"] = "IBeam's health server does not answer (IBeam is not running)."
                return await _with_log(remote, fields, read_logs)
            fields["reachable"] = True
            fields["livez"] = live.status_code == 200
            ready = await client.get(f"{base}/readyz")
            fields["readyz"] = ready.status_code == 200
            try:
                status = await client.post(
                    f"https://127.0.0.1:{gateway.get_port()}/v1/api/iserver/auth/status")
                if status.status_code == 200:
                    data = status.json()
                    fields.update(authenticated=bool(data.get("authenticated")),
                                  connected=bool(data.get("connected")),
                                  competing=bool(data.get("competing")),
                                  message=str(data.get("message") or ""))
                elif status.status_code == 429:
                    fields["error"] = "IBKR's gateway asked ibdesk to slow down (429)."
                else:
                    fields["error"] = f"The gateway answered {status.status_code}."
            except httpx.HTTPError:
                fields["error"] = "The Client Portal gateway does not answer yet."
    finally:
        health.close()
        gateway.close()
    fields["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if not fields.get("authenticated"):
        return await _with_log(remote, fields, read_logs)
    return GatewayHealth(**fields)  # type: ignore[arg-type]


async def _with_log(remote: Remote, fields: dict[str, object], read_logs: bool) -> GatewayHealth:
    if read_logs:
        try:
            code, out, _ = await remote.run(LOG_COMMAND)
        except GatewayError:
            code, out = 1, ""
        if code == 0 and any(marker in out for marker in REFUSED_MARKERS):
            fields["login_refused"] = True
    return GatewayHealth(**fields)  # type: ignore[arg-type]


__all__ = ["LOG_COMMAND", "REFUSED_MARKERS", "probe"]
