"""Recovering after a crash: in process, then the hard way with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from ibdesk.cloud import DigitalOceanClient, DropletCreate
from ibdesk.domain.enums import ServerStatus
from ibdesk.domain.naming import installation_tag
from ibdesk.sandbox import Sandbox
from ibdesk.secrets import ibkr_password
from ibdesk.services import Runtime
from ibdesk.services.installation import installation_id
from ibdesk.services.watch.reconciler import OrphanKind, Reconciler
from tests.helpers import IBDESK
from tests.helpers.e2e import FAST, provisioner, request, set_owner


async def test_pending_connect_is_finished(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"), wait=False)
    (op,) = rt.repository.operations()
    set_owner(rt, op.request_tag, pid=999999999)  # a process that is gone
    report = await Reconciler(rt, timing=FAST).run()
    assert report.finished == [account.id] and report.orphans == []
    assert rt.repository.require_account(account.id).do_server_status is ServerStatus.RUNNING
    assert len(sandbox.world.droplets) == 1


async def test_connect_without_a_kept_password_is_rolled_back(sandbox: Sandbox,
                                                              rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"), wait=False)
    rt.secrets.delete(ibkr_password(account.id))
    (op,) = rt.repository.operations()
    set_owner(rt, op.request_tag, pid=999999999)
    report = await Reconciler(rt, timing=FAST).run()
    assert report.rolled_back == [account.id]
    assert rt.repository.list_accounts() == [] and sandbox.world.droplets == {}


async def test_live_owner_is_left_alone(sandbox: Sandbox, rt: Runtime) -> None:
    account = await provisioner(rt).connect(request("paper"), wait=False)
    (op,) = rt.repository.operations()
    set_owner(rt, op.request_tag, pid=os.getppid())  # alive
    report = await Reconciler(rt, timing=FAST).run()
    assert report.skipped == [account.id] and report.finished == []


async def test_orphans_are_listed_with_cost_and_deleted_on_request(sandbox: Sandbox,
                                                                   rt: Runtime) -> None:
    mine = await provisioner(rt).connect(request("demo"))
    here = installation_tag(installation_id(rt.settings.home))
    async with DigitalOceanClient(sandbox.token, base_url=sandbox.api_url) as do:
        stray, _ = await do.create_droplet(DropletCreate(
            name="lost-ib-paper-1", region="nyc1", size="s-1vcpu-2gb", image="docker-20-04",
            tags=["ibdesk", "ibdesk:ib-paper-deadbeef", here]))
        old, _ = await do.create_droplet(DropletCreate(  # an older ibdesk's, or by hand
            name="old-ib-paper-1", region="nyc1", size="s-1vcpu-1gb", image="docker-20-04",
            tags=["ibdesk", "ibdesk:ib-paper-0badf00d"]))
        foreign, _ = await do.create_droplet(DropletCreate(
            name="web-1", region="nyc1", size="s-1vcpu-1gb", image="docker-20-04"))
    reconciler = Reconciler(rt)
    orphans = await reconciler.orphans()
    assert [(o.droplet_id, o.price_monthly, o.kind) for o in orphans] == [
        (stray.id, 12.0, OrphanKind.ORPHAN), (old.id, 6.0, OrphanKind.UNKNOWN_INSTALLATION)]
    assert await reconciler.delete_orphans() == [stray.id]  # only this installation's
    assert set(sandbox.world.droplets) == {mine.do_droplet_id, old.id, foreign.id}
    assert await reconciler.delete_orphans([old.id, foreign.id]) == [old.id]  # named; never
    assert set(sandbox.world.droplets) == {mine.do_droplet_id, foreign.id}  # a non-ibdesk one


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
        [*IBDESK, "sandbox", "serve", "--json", "--boot-seconds", "0.3",
         "--login-seconds", "0.3", "--action-seconds", "0.2", "--droplet-limit", "100",
         "--ibkr-users", str(users)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    yield info
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    proc.stdout.close()


def _env(info: dict, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IBDESK_", "DIGITAL_"))}
    env.update(IBDESK_HOME=str(home), IBDESK_DO_API_URL=info["api_url"],
               IBDESK_SANDBOX_SSH_MAP_URL=info["ssh_map_url"],
               IBDESK_PUBLIC_IP_URL=info["public_ip_url"],
               PYTHON_KEYRING_BACKEND="ibdesk.sandbox.keyring.EnvFileKeyring",
               IBDESK_TEST_KEYRING_FILE=str(home.parent / f"{home.name}-keyring.json"))
    return env


def _ibdesk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IBDESK, *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _paused_at(env: dict[str, str], pause: str, *args: str,
               stdin: str = "") -> subprocess.Popen[str]:
    """Start `ibdesk ARGS` and return it alive, holding its operation, at `pause`."""
    proc = subprocess.Popen([*IBDESK, *args],
                            env={**env, "IBDESK_PAUSE_AT": pause}, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    for line in proc.stderr:
        if line.startswith(f"[paused at {pause}]"):
            return proc
    raise AssertionError(f"{' '.join(args)} ended before {pause}: {proc.wait()}")


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stderr is not None:
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _killed_at(env: dict[str, str], pause: str, *args: str, stdin: str = "") -> None:
    _kill(_paused_at(env, pause, *args, stdin=stdin))


def _at_once(env: dict[str, str], *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run several ibdesk commands at the same moment; their results in order."""
    procs = [subprocess.Popen([*IBDESK, *args], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args in commands]
    results = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return results


def _cloud(info: dict) -> list[dict]:
    response = httpx.get(f"{info['api_url']}/v2/droplets",
                         params={"tag_name": "ibdesk", "per_page": 200},
                         headers={"Authorization": f"Bearer {info['token']}"})
    return response.json()["droplets"]


def _accounts(env: dict[str, str]) -> list[dict]:
    return json.loads(_ibdesk(env, "--json", "accounts").stdout)["accounts"]


def _one_droplet_per_account_and_no_orphan(env: dict[str, str], served: dict,
                                           before: set[int]) -> list[dict]:
    accounts = _accounts(env)
    ours = sorted(d["id"] for d in _cloud(served) if d["id"] not in before)
    assert ours == sorted(a["do_droplet_id"] for a in accounts), (accounts, ours)
    orphans = json.loads(_ibdesk(env, "--json", "orphans").stdout)["orphans"]
    assert orphans == []
    return accounts


CONNECT = ["connect", "--username", "paperjane", "--environment", "paper", "--password-stdin",
           "--wait"]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_connect_raced_then_killed_after_each_step_recovers(served: dict, tmp_path: Path,
                                                           step: str) -> None:
    """While a connect holds its operation, a second process's resume, delete and
    reconcile leave it alone and create nothing; once it is killed (SIGKILL), a reconcile
    and a delete racing each other end with one droplet per account and no orphan."""
    home = tmp_path / "home"
    env = _env(served, home)
    assert _ibdesk(env, "token", "set", "--stdin", stdin=served["token"]).returncode == 0
    before = {d["id"] for d in _cloud(served)}
    connect = _paused_at(env, f"connect:{step}", *CONNECT, stdin="p@per'pa$$")
    (account,) = _accounts(env)
    made = {d["id"] for d in _cloud(served)} - before
    resume, delete, reconcile = _at_once(env, ["connect", "--resume", account["account_id"]],
                                         ["delete", account["account_id"], "--yes"],
                                         ["--json", "reconcile"])
    for racer in (resume, delete):
        assert racer.returncode == 1 and "is connecting right now in another ibdesk" in \
            racer.stderr, racer
    assert json.loads(reconcile.stdout)["skipped"] == [account["account_id"]]
    assert {d["id"] for d in _cloud(served)} - before == made  # the racers created nothing
    _kill(connect)

    first, second = _at_once(env, ["--json", "reconcile"],
                             ["delete", account["account_id"], "--yes"])
    assert first.returncode in (0, 1) and second.returncode in (0, 1), (first, second)
    accounts = _one_droplet_per_account_and_no_orphan(env, served, before)
    if second.returncode == 0:  # the delete won: cleanly gone
        assert accounts == [] and "Deleted" in second.stdout
    elif step == "record":  # killed before the password was kept: rolled back
        assert accounts == [] and json.loads(first.stdout)["rolled_back"]
    else:  # the reconcile won: the connect carried to the end, the delete was refused
        assert "is connecting right now in another ibdesk" in second.stderr, second
        assert [a["status"] for a in accounts] == ["running"], (first.stdout, accounts)
    again = json.loads(_ibdesk(env, "--json", "reconcile").stdout)
    assert again == {"finished": [], "rolled_back": [], "deleted": [], "adopted": [],
                     "failed": {}, "skipped": [], "orphans": []}


@pytest.mark.slow
@pytest.mark.parametrize("step", ["recorded", "droplets"])
def test_delete_raced_then_killed_recovers(served: dict, tmp_path: Path, step: str) -> None:
    home = tmp_path / "home"
    env = _env(served, home)
    assert _ibdesk(env, "token", "set", "--stdin", stdin=served["token"]).returncode == 0
    before = {d["id"] for d in _cloud(served)}
    made = json.loads(_ibdesk(env, "--json", *CONNECT, stdin="p@per'pa$$").stdout)
    delete = _paused_at(env, f"delete:{step}", "delete", made["account_id"], "--yes")
    again, resume, reconcile = _at_once(env, ["delete", made["account_id"], "--yes"],
                                        ["connect", "--resume", made["account_id"]],
                                        ["--json", "reconcile"])
    assert again.returncode == 1 and "is deleting right now in another ibdesk" in again.stderr
    assert resume.returncode == 1 and "no unfinished connect" in resume.stderr, resume
    assert json.loads(reconcile.stdout)["skipped"] == [made["account_id"]]
    _kill(delete)
    first, second = _at_once(env, ["--json", "reconcile"], ["--json", "reconcile"])
    reports = [json.loads(r.stdout) for r in (first, second)]
    assert sorted(r["deleted"] for r in reports) == [[], [made["account_id"]]], reports
    assert _one_droplet_per_account_and_no_orphan(env, served, before) == []
    keyring = json.loads((home.parent / f"{home.name}-keyring.json").read_text())
    assert not any(made["account_id"] in k for k in keyring)
