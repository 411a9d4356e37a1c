from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ibdesk.store import Repository


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ibdesk.sqlite3'}"


@pytest.fixture
def repo(db_url: str) -> Iterator[Repository]:
    repository = Repository.open(db_url)
    yield repository
    repository.close()
