"""One way to wait between polls (domain/backoff.py)."""

from __future__ import annotations

import itertools

import pytest

from ibdesk.domain.backoff import FACTOR, Backoff


def test_waits_grow_by_one_factor_up_to_the_cap() -> None:
    waits = list(itertools.islice(Backoff(1.0, 5.0), 7))
    assert waits == [1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0]
    assert all(b == min(5.0, a * FACTOR) for a, b in itertools.pairwise(waits))


def test_reset_starts_over() -> None:
    waits = Backoff(2.0, 30.0)
    assert [next(waits), next(waits)] == [2.0, 3.0]
    waits.reset()
    assert next(waits) == 2.0


@pytest.mark.parametrize(("first", "cap", "factor"), [(0, 1, 1.5), (2, 1, 1.5), (1, 2, 0.5)])
def test_nonsense_is_refused(first: float, cap: float, factor: float) -> None:
    with pytest.raises(ValueError):
        Backoff(first, cap, factor)


def test_no_poll_grows_its_own_waits() -> None:
    """Six loops once each had their own factor (2, 1.5, 1.3, 1.6, …); now one. A wait
    multiplied in place (`delay * 1.5`, `min(cap, delay * 2)`) outside the sandbox is a
    loop that forgot this module."""
    import re
    from pathlib import Path

    import ibdesk

    package = Path(ibdesk.__file__).parent
    grown = re.compile(r"\b(delay|wait|interval)\s*\*\s*[0-9.]+")
    found = [f"{path.relative_to(package)}:{number}"
             for path in package.rglob("*.py") if "sandbox" not in path.parts
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if grown.search(line) and "* 1000" not in line]
    assert found == []
