"""The client's models read every example DigitalOcean's spec gives for them."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from ibdesk.cloud.models import (
    Action,
    DOAccount,
    Droplet,
    Firewall,
    Image,
    Region,
    Size,
    SSHKey,
    Tag,
)
from tests import spec

CASES = [
    ("account/account_get.yml", 200, "account", DOAccount, False),
    ("sizes/sizes_list.yml", 200, "sizes", Size, True),
    ("regions/regions_list.yml", 200, "regions", Region, True),
    ("images/images_get.yml", 200, "image", Image, False),
    ("images/images_list.yml", 200, "images", Image, True),
    ("ssh_keys/sshKeys_list.yml", 200, "ssh_keys", SSHKey, True),
    ("ssh_keys/sshKeys_create.yml", 201, "ssh_key", SSHKey, False),
    ("droplets/droplets_list.yml", 200, "droplets", Droplet, True),
    ("droplets/droplets_get.yml", 200, "droplet", Droplet, False),
    ("droplets/droplets_create.yml", 202, "droplet", Droplet, False),
    ("droplets/dropletActions_post.yml", 201, "action", Action, False),
    ("actions/actions_get.yml", 200, "action", Action, False),
    ("firewalls/firewalls_create.yml", 202, "firewall", Firewall, False),
    ("firewalls/firewalls_get.yml", 200, "firewall", Firewall, False),
    ("firewalls/firewalls_update.yml", 200, "firewall", Firewall, False),
    ("firewalls/firewalls_list.yml", 200, "firewalls", Firewall, True),
    ("tags/tags_create.yml", 201, "tag", Tag, False),
]


@pytest.mark.parametrize(("op", "status", "key", "model", "many"), CASES,
                         ids=[c[0] for c in CASES])
def test_spec_examples_parse(op: str, status: int, key: str, model: type[BaseModel],
                             many: bool) -> None:
    bodies = spec.sample(op, status)
    assert bodies
    parsed = 0
    for body in bodies:
        if key not in body:  # e.g. the multi-create example carries `droplets`
            continue
        items = body[key] if many else [body[key]]
        for item in items:
            obj = model.model_validate(item)
            # Every field the example carries that the model declares is kept.
            for name in set(item) & set(model.model_fields):
                assert getattr(obj, name) is not None or item[name] is None, name
            parsed += 1
    assert parsed > 0


def test_required_fields_match_the_spec() -> None:
    """Fields the spec requires are required in the model, and no others are."""
    pairs = [("droplets/droplets_get.yml", 200, "droplet", Droplet),
             ("account/account_get.yml", 200, "account", DOAccount)]
    for op, status, key, model in pairs:
        body_schema = spec.response(op, status)["content"]["application/json"]["schema"]
        props = body_schema.get("properties") or {}
        if key not in props:
            props = {k: v for part in body_schema.get("allOf", [])
                     for k, v in (part.get("properties") or {}).items()}
        required = set(props[key].get("required", []))
        ours = {n for n, f in model.model_fields.items() if f.is_required()}
        assert ours == required, (model.__name__, ours ^ required)
