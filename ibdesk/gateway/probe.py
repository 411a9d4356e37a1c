"""One look at an IBeam gateway through an open SSH connection.

Order matters and mirrors what can fail: IBeam's health server (`/livez`, then `/readyz`,
plain HTTP on 5001), then the Client Portal's own word (`/v1/api/iserver/auth/status`,
HTTPS on 5000 with IBKR's self-signed certificate: the channel is already inside SSH, so
the certificate is not what protects it). `/sso/validate` is never called: IBeam uses
it and IBKR allows it once a minute. When the gateway is not logged in, IBeam's recent
log says whether IBKR refused the password.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ibdesk.domain import ibeam as ib
from ibdesk.domain.errors import GatewayError
from ibdesk.domain.models import GatewayHealth
from ibdesk.gateway.ssh import Remote
from ibdesk.gateway.tls import INSIDE_SSH

REFUSED_MARKERS = ("Invalid username password combination",
                   "Maximum number of failed authentication attempts")
LOG_COMMAND = "docker logs --tail 50 ibeam"


class GatewayProbe:
    """Probes one gateway again and again over the same SSH connection.

    Its two port forwards and two keep-alive HTTP clients stay open between probes, so a
    probe costs a few requests on channels that already exist, not new channels. That is
    what lets one monitor cycle sweep a thousand gateways.
    """

    def __init__(self, remote: Remote, *, timeout: float = 10.0) -> None:
        self._remote = remote
        self._timeout = timeout
        self._forwards: list[object] = []
        self._health: httpx.AsyncClient | None = None
        self._gateway: httpx.AsyncClient | None = None

    async def _open(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        if self._health is None or self._gateway is None:
            health = await self._remote.forward(ib.HEALTH_PORT)
            gateway = await self._remote.forward(ib.GATEWAY_PORT)
            self._forwards = [health, gateway]
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            self._health = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{health.get_port()}", timeout=self._timeout,
                limits=limits, verify=INSIDE_SSH)
            self._gateway = httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{gateway.get_port()}", timeout=self._timeout,
                limits=limits, verify=INSIDE_SSH)
        return self._health, self._gateway

    async def aclose(self) -> None:
        for client in (self._health, self._gateway):
            if client is not None:
                await client.aclose()
        for forward in self._forwards:
            forward.close()  # type: ignore[attr-defined]
        self._health = self._gateway = None
        self._forwards = []

    async def __aenter__(self) -> GatewayProbe:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def probe(self, *, read_logs: bool = True) -> GatewayHealth:
        """What the gateway says now; a gateway problem is the answer, not an exception."""
        started = time.perf_counter()
        fields: dict[str, object] = {"checked_at": datetime.now(UTC), "reachable": False}
        try:
            health, gateway = await self._open()
        except GatewayError as exc:
            return GatewayHealth(**fields, error=exc.user_message)  # type: ignore[arg-type]
        try:
            ready = await health.get("/readyz")
        except httpx.HTTPError:
            fields["error"] = "IBeam's health server does not answer (IBeam is not running)."
            return await _with_log(self._remote, fields, read_logs)
        fields["reachable"] = True
        fields["readyz"] = ready.status_code == 200
        try:
            # a ready IBeam is live; only a not-ready one is asked whether it is shutting down
            fields["livez"] = True if fields["readyz"] else (
                (await health.get("/livez")).status_code == 200)
            status = await gateway.post("/v1/api/iserver/auth/status")
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
        except (httpx.HTTPError, ValueError):
            fields["error"] = "The Client Portal gateway does not answer yet."
        fields["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if not fields.get("authenticated"):
            return await _with_log(self._remote, fields, read_logs)
        return GatewayHealth(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Answer:
    """One endpoint's raw answer, for diagnostics: status code (0 = no answer) and body."""

    status: int
    body: str
    error: str = ""

    @property
    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Inspection:
    livez: Answer
    readyz: Answer
    auth_status: Answer


async def inspect(remote: Remote, *, timeout: float = 10.0) -> Inspection:
    """Ask each endpoint once and keep what it said (the doctor shows it as evidence)."""
    prober = GatewayProbe(remote, timeout=timeout)
    try:
        try:
            health, gateway = await prober._open()
        except GatewayError as exc:
            none = Answer(0, "", exc.user_message)
            return Inspection(none, none, none)

        async def ask(client: httpx.AsyncClient, method: str, path: str) -> Answer:
            try:
                response = await client.request(method, path)
            except httpx.HTTPError as exc:
                return Answer(0, "", f"no answer ({type(exc).__name__})")
            return Answer(response.status_code, response.text[:2000])

        return Inspection(await ask(health, "GET", "/livez"), await ask(health, "GET", "/readyz"),
                          await ask(gateway, "POST", "/v1/api/iserver/auth/status"))
    finally:
        await prober.aclose()


async def probe(remote: Remote, *, timeout: float = 10.0, read_logs: bool = True) -> GatewayHealth:
    """One probe over a fresh pair of forwards (for a single check)."""
    async with GatewayProbe(remote, timeout=timeout) as prober:
        return await prober.probe(read_logs=read_logs)


async def _with_log(remote: Remote, fields: dict[str, object], read_logs: bool) -> GatewayHealth:
    if read_logs:
        try:
            code, out, _ = await remote.run(LOG_COMMAND)
        except GatewayError:
            code, out = 1, ""
        if code == 0 and any(marker in out for marker in REFUSED_MARKERS):
            fields["login_refused"] = True
    return GatewayHealth(**fields)  # type: ignore[arg-type]


__all__ = ["LOG_COMMAND", "REFUSED_MARKERS", "Answer", "GatewayProbe", "Inspection", "inspect", "probe"]
