"""The sandbox API's shape: handlers in route tables, every change a `World` method, one
404 sentence, and a package that loads nothing until a name is used."""

from __future__ import annotations

import ast
import inspect
import subprocess
from pathlib import Path

import pytest

import ibdesk.sandbox
from ibdesk.sandbox import api
from ibdesk.sandbox.world import NOT_FOUND, APIError, Config, HostEvent, World
from tests.helpers import PYTHON

SANDBOX_DIR = Path(ibdesk.sandbox.__file__).parent


def test_every_route_is_a_module_level_handler() -> None:
    handlers = [route.handler for table in (api.api, api.admin) for route in table
                if isinstance(route, type(next(iter(api.api))))]
    assert len(handlers) >= 40
    for handler in handlers:
        assert getattr(api, handler.__name__) is handler, handler  # not a closure


def test_no_handler_assigns_to_the_worlds_state() -> None:
    """A handler reads the request and calls the world; `x.attr = …`, `del x[…]` and
    `x.attr.append(…)` belong in world.py, where the account's rules are."""
    tree = ast.parse(inspect.getsource(api))
    offenders = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Assign, ast.AugAssign)):
                    targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                    if any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets):
                        offenders.append(f"{node.name}:{inner.lineno}")
                if isinstance(inner, ast.Delete):
                    offenders.append(f"{node.name}:{inner.lineno}")
    # the one allowed: a host's clock skew is the simulated host's, not the account's
    assert offenders == [f"gateway_fault:{_line_of('host.clock_skew = ')}"]


def _line_of(text: str) -> int:
    return next(i for i, line in enumerate(inspect.getsource(api).splitlines(), 1)
                if text in line)


def test_the_404_sentence_is_written_once() -> None:
    sources = "".join(p.read_text() for p in SANDBOX_DIR.glob("*.py"))
    assert sources.count(NOT_FOUND) == 1


def test_deleting_a_tag_takes_it_off_every_droplet() -> None:
    world = World(Config(tokens=["t"]))
    droplet, _ = world.create_droplet({"name": "a", "region": "nyc1", "size": "s-1vcpu-1gb",
                                       "image": "docker-20-04", "tags": ["ibdesk", "x"]})
    world.delete_tag("x")
    assert droplet.tags == ["ibdesk"] and "x" not in world.tags
    with pytest.raises(APIError) as err:
        world.delete_tag("x")
    assert err.value.status == 404 and err.value.message == NOT_FOUND


def test_firewall_membership_changes_through_the_world() -> None:
    world = World(Config(tokens=["t"]))
    droplet, _ = world.create_droplet({"name": "a", "region": "nyc1", "size": "s-1vcpu-1gb",
                                       "image": "docker-20-04", "tags": ["ibdesk"]})
    rec = world.create_firewall({"name": "fw", "inbound_rules": [], "outbound_rules": []})
    world.change_firewall_droplets(rec.id, [droplet.id, droplet.id], add=True)
    world.change_firewall_tags(rec.id, ["new-tag"], add=True)
    assert rec.droplet_ids == [droplet.id] and rec.tags == ["new-tag"]
    assert "new-tag" in world.tags  # a tag added to a firewall is created
    with pytest.raises(APIError):
        world.change_firewall_droplets(rec.id, [999], add=True)  # no such droplet
    world.change_firewall_droplets(rec.id, [droplet.id], add=False)
    world.change_firewall_tags(rec.id, ["new-tag"], add=False)
    assert rec.droplet_ids == [] and rec.tags == []
    world.delete_firewall(rec.id)
    assert rec.id not in world.firewalls
    with pytest.raises(APIError):
        world.delete_firewall(rec.id)


def test_time_only_moves_forward() -> None:
    world = World(Config(tokens=["t"], boot_seconds=5))
    world.create_droplet({"name": "a", "region": "nyc1", "size": "s-1vcpu-1gb",
                          "image": "docker-20-04"})
    with pytest.raises(APIError):
        world.advance(-1)
    world.advance(6)
    assert list(world.events) == [(HostEvent.BOOTED, next(iter(world.droplets)))]


def test_faults_add_up() -> None:
    world = World(Config(tokens=["t"]))
    world.faults.update({"fail_actions": {"reboot": 1}, "error_rate": "0.5"})
    world.faults.update({"fail_actions": {"power_on": 2}})
    assert world.faults.fail_actions == {"reboot": 1, "power_on": 2}
    assert world.faults.error_rate == 0.5


def test_the_package_loads_nothing_until_a_name_is_used() -> None:
    code = ("import sys, ibdesk.sandbox, ibdesk.sandbox.catalogue\n"
            "heavy = [m for m in ('aiohttp', 'asyncssh', 'ibdesk.sandbox.server') "
            "if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from ibdesk.sandbox import Sandbox\n"
            "assert 'ibdesk.sandbox.server' in sys.modules\n")
    subprocess.run([*PYTHON, "-c", code], check=True, timeout=60)
    for name in ibdesk.sandbox.__all__:
        assert getattr(ibdesk.sandbox, name) is not None
    with pytest.raises(AttributeError):
        ibdesk.sandbox.Nothing  # noqa: B018
