"""One look at an IBeam gateway through an open SSH connection.

Two servers are asked: IBeam's health server (`/readyz`, and `/livez` when not ready) and
the Client Portal's own word (`/v1/api/iserver/auth/status`, HTTPS on 5000 with IBKR's
self-signed certificate: the channel is already inside SSH, so the certificate is not
what protects it). The health server's answer comes first in the verdict: the gateway's
is only believed when IBeam's server answered. `/sso/validate` is never called: IBeam
uses it and IBKR allows it once a minute. When the gateway is not logged in, IBeam's
recent log (both streams) says whether something stops it for good (`diagnosis.verdict`).

IBeam's health server is a single-threaded `HTTPServer` speaking HTTP/1.0: it closes the
connection after every answer, so each health request is one new SSH channel, spoken to
directly (no local listening socket), and `/readyz`, which tickles the gateway with a
15-second timeout (`IBEAM_REQUEST_TIMEOUT`), is given longer than that. The gateway's
HTTPS connection is kept open between probes, however far apart.

A probe asks `/readyz` and the gateway's auth status at the same time: they are
different servers (IBeam's and the gateway's), each asked once as before, and a probe
then costs the round trips of the slower one (a channel open and a request for the
health server) instead of the sum. The auth status is only used when IBeam's health
server answered. Both are parsed with httptools (`gateway/http1.py`), not httpx.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ibdesk.domain import ibeam as ib
from ibdesk.domain.diagnosis import verdict
from ibdesk.domain.errors import GatewayError
from ibdesk.domain.models import GatewayHealth
from ibdesk.gateway.channels import open_stream, open_tls_stream
from ibdesk.gateway.http1 import HTTPConnection, Reply
from ibdesk.gateway.ssh import Remote
from ibdesk.gateway.tls import INSIDE_SSH

HEALTH_TIMEOUT = 20.0
"""Above IBeam's own 15 s tickle timeout, so a slow /readyz is an answer, not a failure."""
LOG_COMMAND = ib.logs_command(200)
AUTH_STATUS = "/v1/api/iserver/auth/status"


def health_connection(remote: Remote) -> HTTPConnection:
    """IBeam's health server on the droplet behind `remote`, over SSH channels."""
    return HTTPConnection(lambda: open_stream(remote, ib.HEALTH_PORT))


def gateway_connection(remote: Remote) -> HTTPConnection:
    """The gateway's HTTPS on the droplet behind `remote`: TLS in memory over an SSH
    channel, never a local port."""
    return HTTPConnection(lambda: open_tls_stream(remote, ib.GATEWAY_PORT, INSIDE_SSH))


async def health_request(remote: Remote, path: str, *, timeout: float = HEALTH_TIMEOUT
                         ) -> tuple[int, str]:
    """One GET to IBeam's health server over a fresh SSH channel: (status, body).
    Raises GatewayError when nothing answers."""
    connection = health_connection(remote)
    try:
        reply = await connection.request("GET", path, timeout=timeout)
    finally:
        connection.close()
    return reply.status, reply.text


class GatewayProbe:
    """Probes one gateway again and again over the same SSH connection: the health server
    on a new channel per request (HTTP/1.0; kept when a server keeps it), one kept-alive
    HTTPS connection to the gateway."""

    def __init__(self, remote: Remote, *, timeout: float = HEALTH_TIMEOUT) -> None:
        self._remote = remote
        self._timeout = timeout
        self.health = health_connection(remote)
        self.gateway = gateway_connection(remote)

    async def aclose(self) -> None:
        self.health.close()
        self.gateway.close()

    async def __aenter__(self) -> GatewayProbe:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def probe(self, *, read_logs: bool = True) -> GatewayHealth:
        """What the gateway says now; a gateway problem is the answer, not an exception."""
        started = time.perf_counter()
        fields: dict[str, object] = {"checked_at": datetime.now(UTC), "reachable": False}
        ready, status = await asyncio.gather(
            self.health.request("GET", "/readyz", timeout=self._timeout),
            self.gateway.request("POST", AUTH_STATUS, timeout=self._timeout),
            return_exceptions=True)
        if isinstance(ready, BaseException):
            if not isinstance(ready, GatewayError):
                raise ready
            if self._remote.closed:  # not IBeam: the connection itself (a reboot, say)
                fields["error"] = ("The SSH connection to the server was lost; ibdesk "
                                   "connects again.")
                return GatewayHealth(**fields)  # type: ignore[arg-type]
            fields["error"] = "IBeam's health server does not answer (IBeam is not running)."
            return await _with_log(self._remote, fields, read_logs)
        fields["reachable"] = True
        fields["readyz"] = ready.status == 200
        try:
            # a ready IBeam is live; only a not-ready one is asked whether it is shutting down
            fields["livez"] = True if fields["readyz"] else (
                (await self.health.request("GET", "/livez", timeout=self._timeout)).status
                == 200)
        except GatewayError:
            fields["livez"] = False
        if isinstance(status, GatewayError):
            fields["error"] = "The Client Portal gateway does not answer yet."
        elif isinstance(status, BaseException):
            raise status
        else:
            _read_auth_status(status, fields)
        fields["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if not fields.get("authenticated"):
            return await _with_log(self._remote, fields, read_logs)
        return GatewayHealth(**fields)  # type: ignore[arg-type]


def _read_auth_status(reply: Reply, fields: dict[str, object]) -> None:
    if reply.status == 200:
        try:
            data = json.loads(reply.body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            fields["error"] = "The gateway's auth status is not JSON."
            return
        fields.update(authenticated=bool(data.get("authenticated")),
                      connected=bool(data.get("connected")),
                      competing=bool(data.get("competing")),
                      message=str(data.get("message") or ""))
    elif reply.status == 401:  # the gateway holds no session yet
        fields.update(authenticated=False, connected=False)
    elif reply.status == 429:
        fields["error"] = "IBKR's gateway asked ibdesk to slow down (429)."
    else:
        fields["error"] = f"The gateway answered {reply.status}."


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
    gateway = gateway_connection(remote)
    try:
        reply = await gateway.request("POST", AUTH_STATUS, timeout=timeout)
        auth = Answer(reply.status, reply.text[:2000])
    except GatewayError as exc:
        auth = Answer(0, "", f"no answer ({exc.user_message})")
    finally:
        gateway.close()
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


__all__ = ["AUTH_STATUS", "HEALTH_TIMEOUT", "LOG_COMMAND", "Answer", "GatewayProbe",
           "Inspection", "gateway_connection", "health_connection", "health_request",
           "inspect", "probe"]
