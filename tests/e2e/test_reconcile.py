"""Recovering after a crash: in process, then the hard way with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ibdesk.cloud import DigitalOceanClient, DropletCreate
from ibdesk.domain import OperationState, ServerStatus
from ibdesk.sandbox import Sandbox
from ibdesk.secrets import ibkr_password
from ibdesk.services import Runtime
from ibdesk.services.reconciler import Reconciler
from ibdesk.services.remote import owner
from tests.e2e.conftest import FAST, provisioner, request


async def test_pending_connect_is_finished(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"), wait=False)
    (op,) = rt.repository.operations()
    rt.repository.update_operation(op.request_tag, owner={"pid": 999999999, "host": "x"})
    report = await Reconciler(rt, timing=FAST).run()
    assert report.finished == [account.id] and report.orphans == []
    assert rt.repository.require_account(account.id).do_server_status is ServerStatus.RUNNING
    assert len(sandbox.world.droplets) == 1


async def test_connect_without_a_kept_password_is_rolled_back(sandbox: Sandbox,
                                                              rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"), wait=False)
    rt.secrets.delete(ibkr_password(account.id))
    (op,) = rt.repository.operations()
    rt.repository.update_operation(op.request_tag, owner={"pid": 999999999, "host": "x"})
    report = await Reconciler(rt, timing=FAST).run()
    assert report.rolled_back == [account.id]
    assert rt.repository.list_accounts() == [] and sandbox.world.droplets == {}


async def test_live_owner_is_left_alone(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"), wait=False)
    (op,) = rt.repository.operations()
    rt.repository.update_operation(op.request_tag,
                                   owner={**owner(), "pid": os.getppid()})  # alive
    report = await Reconciler(rt, timing=FAST).run()
    assert report.skipped == [account.id] and report.finished == []


async def test_orphans_are_listed_with_cost_and_deleted_on_request(sandbox: Sandbox,
                                                                   rt: Runtime) -> None:
    mine = await provisioner(rt).connect(request("demo"))
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
        stray, _ = await do.create_droplet(DropletCreate(
            name="lost-ib-paper-1", region="nyc1", size="s-1vcpu-2gb", image="docker-20-04",
            tags=["ibdesk", "ibdesk:ib-paper-deadbeef"]))
        foreign, _ = await do.create_droplet(DropletCreate(
            name="web-1", region="nyc1", size="s-1vcpu-1gb", image="docker-20-04"))
    reconciler = Reconciler(rt)
    orphans = await reconciler.orphans()
    assert [(o.droplet_id, o.price_monthly) for o in orphans] == [(stray.id, 12.0)]
    assert await reconciler.delete_orphans() == [stray.id]
    assert set(sandbox.world.droplets) == {mine.do_droplet_id, foreign.id}  # not ibdesk's: kept


# --------------------------------------------------------------------------- SIGKILL
STEPS = ["record", "secrets", "ssh_key", "firewall", "droplet", "active", "deliver"]


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "served"
    folder.mkdir()
    users = folder / "users.json"
    users.write_text(json.dumps({"users": [{"username": "paperjane",
                                            "password": "p@per'pa$$"}]}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ibdesk", "sandbox", "serve", "--json", "--boot-seconds", "0.3",
         "--login-seconds", "0.3", "--action-seconds", "0.2", "--droplet-limit", "100",
         "--ibkr-users", str(users)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    yield info
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def _env(info: dict, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IBDESK_", "DIGITAL_"))}
    env.update(IBDESK_HOME=str(home), IBDESK_DO_API_URL=info["api_url"],
               IBDESK_SANDBOX_SSH_MAP_URL=info["ssh_map_url"],
               IBDESK_PUBLIC_IP_URL=info["public_ip_url"],
               PYTHON_KEYRING_BACKEND="ibdesk.sandbox.keyring.EnvFileKeyring",
               IBDESK_TEST_KEYRING_FILE=str(home.parent / f"{home.name}-keyring.json"))
    return env


def _ibdesk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ibdesk", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _killed_at(env: dict[str, str], pause: str, *args: str, stdin: str = "") -> None:
    proc = subprocess.Popen([sys.executable, "-m", "ibdesk", *args],
                            env={**env, "IBDESK_PAUSE_AT": pause}, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    for line in proc.stderr:
        if line.startswith(f"[paused at {pause}]"):
            break
    else:
        raise AssertionError(f"{' '.join(args)} ended before {pause}: {proc.wait()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _cloud(info: dict) -> list[dict]:
    response = httpx.get(f"{info['api_url']}/v2/droplets",
                         params={"tag_name": "ibdesk", "per_page": 200},
                         headers={"Authorization": f"Bearer {info['token']}"})
    return response.json()["droplets"]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_connect_killed_after_each_step_recovers(served: dict, tmp_path: Path,
                                                 step: str) -> None:
    home = tmp_path / "home"
    env = _env(served, home)
    assert _ibdesk(env, "token", "set", "--stdin", stdin=served["token"]).returncode == 0
    before = {d["id"] for d in _cloud(served)}
    _killed_at(env, f"connect:{step}", "connect", "--username", "paperjane", "--environment",
               "paper", "--password-stdin", "--wait", stdin="p@per'pa$$")
    result = _ibdesk(env, "--json", "reconcile")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["orphans"] == [] and report["failed"] == {}
    accounts = json.loads(_ibdesk(env, "--json", "accounts").stdout)["accounts"]
    ours = [d for d in _cloud(served) if d["id"] not in before]
    if step == "record":  # killed before the password was kept: cleanly gone
        assert accounts == [] and ours == [] and report["rolled_back"]
    else:
        (account,) = accounts
        assert account["status"] == "running", (step, report)
        assert [d["id"] for d in ours] == [account["do_droplet_id"]]  # exactly one droplet
    again = json.loads(_ibdesk(env, "--json", "reconcile").stdout)
    assert again == {"finished": [], "rolled_back": [], "deleted": [], "failed": {},
                     "skipped": [], "orphans": []}


@pytest.mark.slow
def test_delete_killed_half_way_recovers(served: dict, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(served, home)
    assert _ibdesk(env, "token", "set", "--stdin", stdin=served["token"]).returncode == 0
    made = json.loads(_ibdesk(env, "--json", "connect", "--username", "paperjane",
                              "--environment", "paper", "--password-stdin", "--wait",
                              stdin="p@per'pa$$").stdout)
    _killed_at(env, "delete:droplets", "delete", made["account_id"], "--yes")
    assert made["service_id"] not in {d["id"] for d in _cloud(served)}
    report = json.loads(_ibdesk(env, "--json", "reconcile").stdout)
    assert report["deleted"] == [made["account_id"]] and report["orphans"] == []
    assert json.loads(_ibdesk(env, "--json", "accounts").stdout)["accounts"] == []
    keyring = json.loads((home.parent / f"{home.name}-keyring.json").read_text())
    assert not any(made["account_id"] in k for k in keyring)
    assert OperationState.DONE.value == "done"
