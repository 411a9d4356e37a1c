"""The light simulated IBeam, reached as the app reaches it: through SSH port forwarding.

It must say and do what IBeam 0.5.12 does (its streams, its shutdowns, its HTTP/1.0
health server, 401 without a session); tests/sandbox/test_parity.py holds it against
IBeam's own code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncssh
import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from ibdesk.cloud import DigitalOceanClient
from ibdesk.domain import ibeam as ib
from ibdesk.domain.enums import TwoFactorHandler
from ibdesk.sandbox import Sandbox
from ibdesk.sandbox.runner import SandboxThread
from tests.helpers.sandbox import Machine, advance, boot_machine, deliver, fast_options
from tests.helpers.strategies import PASSWORDS


@dataclass
class Gateway:
    health: httpx.AsyncClient
    api: httpx.AsyncClient

    async def readyz(self) -> int:
        return (await self.health.get("/readyz")).status_code

    async def auth(self) -> dict:
        return (await self.api.post("/v1/api/iserver/auth/status")).json()


@asynccontextmanager
async def gateway(machine: Machine) -> AsyncIterator[Gateway]:
    async with machine.connect() as conn:
        health = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", ib.HEALTH_PORT)
        api = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", ib.GATEWAY_PORT)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health.get_port()}") as h, \
                httpx.AsyncClient(base_url=f"https://127.0.0.1:{api.get_port()}",
                                  verify=False) as a:
            yield Gateway(h, a)


async def test_logs_in_with_a_known_user(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    async with gateway(machine) as gw:
        assert await gw.readyz() == 503
        # without a session, the gateway answers 401 (IBeam reads that as "no session")
        assert (await gw.api.post("/v1/api/iserver/auth/status")).status_code == 401
        assert (await gw.api.post("/v1/api/tickle")).status_code == 401
        await advance(sandbox, 5)
        assert await gw.readyz() == 200
        status = await gw.auth()
        assert status["authenticated"] and status["connected"] and not status["competing"]
        assert set(status) >= {"message", "MAC", "serverInfo", "fail"}
        tickle = (await gw.api.post("/v1/api/tickle")).json()
        assert tickle["session"] and tickle["iserver"]["authStatus"]["authenticated"]
        assert tickle["collission"] is False


async def test_wrong_password_counts_then_shuts_down(sandbox: Sandbox,
                                                     do: DigitalOceanClient) -> None:
    """One attempt per login (ibdesk's IBEAM_MAX_IMMEDIATE_ATTEMPTS=1), the second refusal
    at the next maintenance reaches IBEAM_MAX_FAILED_AUTH=2: IBeam's maintenance thread
    stops its health server, and the process lives on (the container stays running)."""
    machine = await boot_machine(sandbox, do)
    settings_ = ib.IBeamSettings(environment="demo", max_failed_auth=2)
    await deliver(machine, "jdoe123", "wrong", settings=settings_)
    host = sandbox.host(machine.droplet.id)
    await advance(sandbox, 5)
    assert host.ibeam.failures == 1 and host.ibeam.state == "running"
    async with gateway(machine) as gw:
        assert await gw.readyz() == 503
    await advance(sandbox, 60)
    assert host.ibeam.state == "hung" and host.ibeam.login_attempts == 2
    async with machine.connect() as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", ib.HEALTH_PORT)
        split = await conn.run("docker logs --tail 50 ibeam")
        merged = (await conn.run(ib.logs_command(50))).stdout
        assert (await conn.run(ib.STATUS_COMMAND)).stdout.strip() == "active"
    # IBeam writes WARNING and above to stderr: `docker logs` keeps the two streams apart
    assert "Invalid username password combination" not in split.stdout
    assert "Invalid username password combination" in split.stderr
    assert "Maximum number of failed authentication attempts (IBEAM_MAX_FAILED_AUTH=2) " \
           "reached" in merged and "Login attempt number" in merged
    day = datetime.fromtimestamp(sandbox.world.now(), UTC)
    data, _ = host.read_file(f"{ib.OUTPUTS_DIR}/ibeam_log__{day:%Y-%m-%d}.txt")
    assert b"IBeam will shut down" in data
    assert b"wrong" not in data  # IBeam's log never holds the password


async def test_password_changed_at_ibkr(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    """The admin API's `users/{username}`: the trader changed the password on IBKR's site,
    so IBeam's next login with the delivered one is refused."""
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    host = sandbox.host(machine.droplet.id)
    assert host.ibeam.session.authenticated
    admin = {"Authorization": f"Bearer {sandbox.token}"}
    base = f"{sandbox.api_url}/_sandbox/v1"
    async with httpx.AsyncClient(headers=admin) as client:
        changed = await client.post(f"{base}/users/jdoe123", json={"password": "n3w at ibkr"})
        assert changed.status_code == 200 and "n3w" not in changed.text
        nobody = await client.post(f"{base}/users/nobody", json={"password": "x"})
        assert nobody.status_code == 404
        assert (await client.post(f"{base}/users/jdoe123", json={"pin": "1"})).status_code == 400
        await client.post(f"{base}/droplets/{machine.droplet.id}/gateway",
                          json={"session_reset": True})
    await advance(sandbox, 5)
    assert not host.ibeam.session.authenticated and host.ibeam.failures >= 1
    async with machine.connect() as conn:
        logs = (await conn.run(ib.logs_command(50))).stdout
    assert "Active session found but not authenticated, reauthenticating..." in logs
    assert "Invalid username password combination" in logs


async def test_unknown_user_is_refused(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "nobody", "s3cret pass")
    await advance(sandbox, 5)
    assert sandbox.host(machine.droplet.id).ibeam.failures == 1


async def test_2fa_prompt_without_a_handler_shuts_ibeam_down(sandbox: Sandbox,
                                                               do: DigitalOceanClient) -> None:
    """IBeam does not wait at IBKR's 2FA prompt without a handler: it shuts down, and
    during its first login that ends the process and the container (kept: no --rm)."""
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "livetrader", "live-pass",
                  settings=ib.IBeamSettings(environment="live"))
    await advance(sandbox, 5)
    host = sandbox.host(machine.droplet.id)
    assert host.ibeam.state == "exited" and host.container.state == "exited"
    async with machine.connect() as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", ib.HEALTH_PORT)
        logs = await conn.run("docker logs ibeam")
        state = await conn.run(ib.CONTAINER_STATE_COMMAND)
    assert "No 2FA handler found" in logs.stderr and state.stdout.strip() == "exited"
    other = await boot_machine(sandbox, do, name="live-ib-live-1")
    await deliver(other, "livetrader", "live-pass", totp="JBSWY3DPEHPK3PXP",
                  settings=ib.IBeamSettings(environment="live",
                                            two_fa_handler=TwoFactorHandler.PYOTP))
    await advance(sandbox, 5)
    async with gateway(other) as gw:
        assert await gw.readyz() == 200


async def test_a_wrong_totp_secret_is_retried_and_never_counted(sandbox: Sandbox,
                                                                do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "livetrader", "live-pass", totp="AAAAAAAAAAAAAAAA",
                  settings=ib.IBeamSettings(environment="live",
                                            two_fa_handler=TwoFactorHandler.PYOTP))
    await advance(sandbox, 5)
    await advance(sandbox, 60)
    await advance(sandbox, 60)
    host = sandbox.host(machine.droplet.id)
    assert host.ibeam.state == "running" and host.ibeam.failures == 0
    assert sandbox.ibkr.codes_refused == 3  # one per login: ibdesk's immediate attempts = 1
    async with machine.connect() as conn:
        logs = (await conn.run(ib.logs_command(200))).stdout
    assert logs.count("Submitting the 2FA form") == 3


async def test_2fa_pending_fault(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    host = sandbox.host(machine.droplet.id)
    host.set_gateway_faults(two_fa_pending=True)
    await deliver(machine, "livetrader", "live-pass", totp="JBSWY3DPEHPK3PXP",
                  settings=ib.IBeamSettings(environment="live",
                                            two_fa_handler=TwoFactorHandler.PYOTP))
    await advance(sandbox, 5)
    assert host.ibeam.waiting_2fa and not host.ibeam.session.authenticated
    host.set_gateway_faults(two_fa_pending=False)
    await advance(sandbox, 60)
    assert host.ibeam.session.authenticated


async def test_competing_down_and_session_reset_faults(sandbox: Sandbox,
                                                       do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    admin = {"Authorization": f"Bearer {sandbox.token}"}
    url = f"{sandbox.api_url}/_sandbox/v1/droplets/{machine.droplet.id}/gateway"
    async with httpx.AsyncClient(headers=admin) as client, gateway(machine) as gw:
        assert (await client.post(url, json={"competing": True})).json()["competing"]
        assert (await gw.auth())["competing"] is True
        await client.post(url, json={"competing": False, "session_reset": True})
        status = await gw.auth()
        assert (status["authenticated"], status["connected"]) == (False, True)
        await advance(sandbox, 5)
        assert (await gw.auth())["authenticated"] is True
        await client.post(url, json={"down": True})
    async with machine.connect() as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", ib.GATEWAY_PORT)
    async with httpx.AsyncClient(headers=admin) as client:
        bad = await client.post(url, json={"volcano": True})
    assert bad.status_code >= 400


async def test_daily_reset_then_relogin(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    ibeam = sandbox.host(machine.droplet.id).ibeam
    assert ibeam.session.authenticated
    now = datetime.fromtimestamp(sandbox.world.now(), UTC)
    reset = now.replace(hour=sandbox.options.reset_hour_utc, minute=0, second=0, microsecond=0)
    if reset <= now:
        reset += timedelta(days=1)
    await advance(sandbox, (reset - now).total_seconds() + 1)
    assert not ibeam.session.authenticated and ibeam.session.connected
    await advance(sandbox, 60 + 5)
    assert ibeam.session.authenticated
    assert any("Active session found but not authenticated" in line.text
               for line in ibeam.container.logs)


def test_the_kept_last_reset_is_the_one_worked_out_afresh() -> None:
    """`LightIBeam._last_reset` keeps its answer until the next reset is due; at every
    moment (either side of a reset, the clock sent back, the hour changed) it must be
    what a fresh computation gives."""
    from types import SimpleNamespace

    from ibdesk.sandbox.ibeam import LightIBeam

    def fresh(now: float, hour: int) -> float:
        moment = datetime.fromtimestamp(now, UTC).replace(hour=hour, minute=0, second=0,
                                                          microsecond=0)
        return (moment - timedelta(days=moment.timestamp() > now)).timestamp()

    timing = SimpleNamespace(reset_hour_utc=5)
    ibeam = SimpleNamespace(host=SimpleNamespace(timing=timing), _reset_kept=(-1, 0.0))
    reset = datetime(2026, 12, 4, 5, tzinfo=UTC).timestamp()
    moments = [reset - 1, reset, reset + 1, reset + 86_399, reset + 86_400, reset + 86_401,
               reset - 86_401, reset + 3 * 86_400 + 7, reset + 10]
    for hour in (5, 5, 23):
        timing.reset_hour_utc = hour
        for now in moments:
            assert LightIBeam._last_reset(ibeam, now) == fresh(now, hour), (hour, now)


async def test_deactivate_and_activate(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    await advance(sandbox, 5)
    async with gateway(machine) as gw:
        assert (await gw.health.get("/deactivate")).status_code == 200
        assert await gw.readyz() == 503
        assert (await gw.health.get("/activate")).status_code == 200
        await advance(sandbox, 5)
        assert await gw.readyz() == 200
        assert (await gw.health.get("/nope")).status_code == 404


async def test_gateway_rate_limit(sandbox: Sandbox, do: DigitalOceanClient) -> None:
    machine = await boot_machine(sandbox, do)
    await deliver(machine, "jdoe123", "s3cret pass")
    async with gateway(machine) as gw:
        codes = [(await gw.api.post("/v1/api/iserver/auth/status")).status_code
                 for _ in range(12)]
    assert codes.count(429) >= 1 and codes[0] == 401  # no session yet, but counted


@pytest.fixture(scope="module")
def threaded_machine() -> Iterator[tuple[SandboxThread, Machine]]:
    """A sandbox on its own thread, so that each example can run its own event loop."""
    runner = SandboxThread(fast_options())
    runner.start()

    async def boot(sb: Sandbox) -> Machine:
        async with DigitalOceanClient(sb.token, base_url=sb.api_url) as client:
            return await boot_machine(sb, client)

    try:
        yield runner, runner.call(boot)
    finally:
        runner.stop()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=PASSWORDS)
def test_passwords_arrive_byte_exact(threaded_machine: tuple[SandboxThread, Machine],
                                     password: str) -> None:
    """Whatever a deliverable password holds, IBeam reads back exactly what was typed."""
    runner, machine = threaded_machine
    asyncio.run(deliver(machine, "jdoe123", password))
    host = runner.sandbox.host(machine.droplet.id)
    assert host.ibeam._secret("IBEAM_PASSWORD") == password
    data, mode = host.read_file(ib.PASSWORD_FILE)
    assert data == password.encode() and mode == 0o400


def test_passwords_with_any_line_break_are_refused_up_front() -> None:
    """IBeam reads its secret files in text mode: an inner CR becomes LF and a trailing
    one is stripped, so a password holding either would reach IBKR changed."""
    for bad in ("pass\n", "pass\r\n", "pa\rss", "multi\nline", "pa\x00ss"):
        with pytest.raises(ValueError):
            ib.check_deliverable(bad)
    assert ib.read_secret_text(b"a\rb\r\n") == "a\nb"  # what IBeam would have read
    ib.check_deliverable("spaces and $ymbols 'are' fine")
