from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibdesk.domain.enums import Environment
from ibdesk.domain.naming import (
    DROPLET_NAME_MAX,
    account_tag,
    droplet_name,
    next_droplet_name,
    parse_droplet_name,
    request_tag,
    username_slug,
)

DO_NAME = re.compile(r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")  # droplet_single_create.yml
DO_TAG = re.compile(r"^[a-zA-Z0-9_\-\:]+$")  # tags.yml


def test_clean_username_is_kept() -> None:
    assert droplet_name("jdoe123", Environment.PAPER, 1) == "jdoe123-ib-paper-1"
    assert droplet_name("j.doe-7", "live", 3) == "j.doe-7-ib-live-3"


@pytest.mark.parametrize("username", ["John_Doe", "JDOE", "a b", "ñandú", "x" * 80, "_",
                                      "--", "user@example.com", "abc-0123abcd"])
def test_odd_usernames_become_valid_names(username: str) -> None:
    name = droplet_name(username, Environment.DEMO, 12)
    assert DO_NAME.match(name), name
    assert len(name) <= DROPLET_NAME_MAX
    assert name.endswith("-ib-demo-12")
    assert parse_droplet_name(name) == (username_slug(username), Environment.DEMO, 12)


def test_mapping_is_deterministic_and_case_sensitive() -> None:
    assert username_slug("John_Doe") == username_slug("John_Doe")
    assert username_slug("JohnDoe") != username_slug("johndoe")
    assert username_slug("john_doe") != username_slug("john-doe")
    assert username_slug("john.doe") != username_slug("john-doe")


def test_a_username_shaped_like_a_hashed_slug_cannot_collide() -> None:
    hashed = username_slug("John_Doe")
    assert re.search(r"-[0-9a-f]{8}$", hashed)
    # Someone whose real username *is* that slug gets a different one.
    assert username_slug(hashed) != hashed


@given(st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=64))
def test_distinct_usernames_never_share_a_slug(a: str, b: str) -> None:
    if a != b:
        assert username_slug(a) != username_slug(b)


@given(st.text(min_size=1, max_size=64), st.sampled_from(list(Environment)),
       st.integers(min_value=1, max_value=999))
def test_every_name_is_valid_for_digitalocean(username: str, env: Environment,
                                               index: int) -> None:
    name = droplet_name(username, env, index)
    assert DO_NAME.match(name)
    assert len(name) <= DROPLET_NAME_MAX


def test_lowest_free_index_is_reused() -> None:
    assert next_droplet_name("bob", "demo", []) == "bob-ib-demo-1"
    used = ["bob-ib-demo-1", "bob-ib-demo-2", "bob-ib-demo-4"]
    assert next_droplet_name("bob", "demo", used) == "bob-ib-demo-3"
    # Another environment or another user does not take bob's indexes.
    assert next_droplet_name("bob", "paper", used) == "bob-ib-paper-1"
    assert next_droplet_name("bobby", "demo", used) == "bobby-ib-demo-1"
    # Names that are not ibdesk's are ignored.
    assert next_droplet_name("bob", "demo", ["web-1", "bob-ib-demo-x"]) == "bob-ib-demo-1"


def test_index_must_be_positive() -> None:
    with pytest.raises(ValueError):
        droplet_name("bob", "demo", 0)


def test_tags_are_valid_for_digitalocean() -> None:
    assert DO_TAG.match(account_tag("ib-demo-a1b2c3d4"))
    assert DO_TAG.match(request_tag("3f2a 9/x"))
    assert request_tag("abc") != request_tag("abd")
