"""One look at an IBeam gateway through an open SSH connection.

Order matters and mirrors what can fail: IBeam's health server (`/readyz`, then `/livez`
when not ready), then the Client Portal's own word (`/v1/api/iserver/auth/status`, HTTPS
on 5000 with IBKR's self-signed certificate: the channel is already inside SSH, so the
certificate is not what protects it). `/sso/validate` is never called: IBeam uses it and
IBKR allows it once a minute. When the gateway is not logged in, IBeam's recent log
(both streams) says whether something stops it for good (`diagnosis.verdict`).

IBeam's health server is a single-threaded `HTTPServer` speaking HTTP/1.0: it closes the
connection after every answer, so each request is one new SSH channel, spoken to
directly (no local listening socket), and `/readyz`, which tickles the gateway with a
15-second timeout (`IBEAM_REQUEST_TIMEOUT`), is given longer than that. The gateway
keeps its connection alive between probes (`keepalive_expiry=None`: a probe comes once a
cycle, further apart than httpx's 5-second default would keep it).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ibdesk.domain import ibeam as ib
from ibdesk.domain.diagnosis import verdict
from ibdesk.domain.errors import GatewayError
from ibdesk.domain.models import GatewayHealth
from ibdesk.gateway.channels import gateway_client
from ibdesk.gateway.ssh import Remote

HEALTH_TIMEOUT = 20.0
"""Above IBeam's own 15 s tickle timeout, so a slow /readyz is an answer, not a failure."""
GATEWAY_KEEPALIVE_EXPIRY: float | None = None
"""Never expire the gateway connection between probes (httpx's default, 5 s, dropped it
before every probe; benchmarks/monitor.py sets 5.0 to measure that baseline)."""
LOG_COMMAND = ib.logs_command(200)


async def health_request(remote: Remote, path: str, *, timeout: float = HEALTH_TIMEOUT
                         ) -> tuple[int, str]:
    """One GET to IBeam's health server over a fresh SSH channel: (status, body).
    Raises GatewayError when nothing answers."""
    reader, writer = await remote.open_channel(ib.HEALTH_PORT)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        try:
            raw = await asyncio.wait_for(reader.read(), timeout)
        except TimeoutError:
            raise GatewayError(f"IBeam's health server did not answer {path} within "
                               f"{timeout:g} s.") from None
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise GatewayError("IBeam's health server closed the connection without an answer.")
    return int(parts[1]), body.decode("utf-8", "replace")


class GatewayProbe:
    """Probes one gateway again and again over the same SSH connection: a new channel
    per health request (HTTP/1.0), one kept-alive HTTPS connection to the gateway."""

    def __init__(self, remote: Remote, *, timeout: float = HEALTH_TIMEOUT) -> None:
        self._remote = remote
        self._timeout = timeout
        self._gateway: httpx.AsyncClient | None = None

    async def gateway(self) -> httpx.AsyncClient:
        """The gateway's HTTPS, over SSH channels (no port listens on this computer)."""
        if self._gateway is None:
            self._gateway = gateway_client(self._remote, timeout=self._timeout,
                                           keepalive_expiry=GATEWAY_KEEPALIVE_EXPIRY)
        return self._gateway

    async def aclose(self) -> None:
        if self._gateway is not None:
            await self._gateway.aclose()
        self._gateway = None

    async def __aenter__(self) -> GatewayProbe:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def probe(self, *, read_logs: bool = True) -> GatewayHealth:
        """What the gateway says now; a gateway problem is the answer, not an exception."""
        started = time.perf_counter()
        fields: dict[str, object] = {"checked_at": datetime.now(UTC), "reachable": False}
        try:
            ready, _ = await health_request(self._remote, "/readyz", timeout=self._timeout)
        except GatewayError:
            if self._remote.closed:  # not IBeam: the connection itself (a reboot, say)
                fields["error"] = ("The SSH connection to the server was lost; ibdesk "
                                   "connects again.")
                return GatewayHealth(**fields)  # type: ignore[arg-type]
            fields["error"] = "IBeam's health server does not answer (IBeam is not running)."
            return await _with_log(self._remote, fields, read_logs)
        fields["reachable"] = True
        fields["readyz"] = ready == 200
        try:
            # a ready IBeam is live; only a not-ready one is asked whether it is shutting down
            fields["livez"] = True if fields["readyz"] else (
                (await health_request(self._remote, "/livez", timeout=self._timeout))[0] == 200)
            gateway = await self.gateway()
            status = await gateway.post("/v1/api/iserver/auth/status")
            if status.status_code == 200:
                data = status.json()
                fields.update(authenticated=bool(data.get("authenticated")),
                              connected=bool(data.get("connected")),
                              competing=bool(data.get("competing")),
                              message=str(data.get("message") or ""))
            elif status.status_code == 401:  # the gateway holds no session yet
                fields.update(authenticated=False, connected=False)
            elif status.status_code == 429:
                fields["error"] = "IBKR's gateway asked ibdesk to slow down (429)."
            else:
                fields["error"] = f"The gateway answered {status.status_code}."
        except (httpx.HTTPError, ValueError, GatewayError):
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


async def inspect(remote: Remote, *, timeout: float = HEALTH_TIMEOUT) -> Inspection:
    """Ask each endpoint once and keep what it said (the doctor shows it as evidence)."""

    async def health(path: str) -> Answer:
        try:
            status, body = await health_request(remote, path, timeout=timeout)
        except GatewayError as exc:
            return Answer(0, "", exc.user_message)
        return Answer(status, body[:2000])

    livez, readyz = await health("/livez"), await health("/readyz")
    async with GatewayProbe(remote, timeout=timeout) as prober:
        try:
            response = await (await prober.gateway()).post("/v1/api/iserver/auth/status")
            auth = Answer(response.status_code, response.text[:2000])
        except (httpx.HTTPError, GatewayError) as exc:
            auth = Answer(0, "", f"no answer ({type(exc).__name__})")
    return Inspection(livez, readyz, auth)


async def probe(remote: Remote, *, timeout: float = HEALTH_TIMEOUT,
                read_logs: bool = True) -> GatewayHealth:
    """One probe (for a single check)."""
    async with GatewayProbe(remote, timeout=timeout) as prober:
        return await prober.probe(read_logs=read_logs)


async def _with_log(remote: Remote, fields: dict[str, object], read_logs: bool) -> GatewayHealth:
    if read_logs:
        try:
            code, out, _ = await remote.run(LOG_COMMAND)
        except GatewayError:
            code, out = 1, ""
        if code == 0:
            fields["verdict"] = verdict(out)
    return GatewayHealth(**fields)  # type: ignore[arg-type]


__all__ = ["HEALTH_TIMEOUT", "LOG_COMMAND", "Answer", "GatewayProbe", "Inspection",
           "health_request", "inspect", "probe"]
