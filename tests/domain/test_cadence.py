"""Each account on its own beat (domain/cadence.next_look)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from ibdesk.domain.cadence import BEATS, next_look
from ibdesk.domain.models import new_account_id


def test_a_thousand_accounts_looked_at_together_come_due_spread_over_the_interval() -> None:
    ids = [new_account_id("paper") for _ in range(1000)]
    due = [next_look(i, 1000.0, 60.0) for i in ids]
    assert all(1030.0 <= t < 1090.0 for t in due)
    per_tenth = Counter(int((t - 1030.0) // 6) for t in due)  # ten 6-second slices
    assert len(per_tenth) == 10 and max(per_tenth.values()) < 160  # ~100 each, not 1000
    # on a few beats, not a thousand: a cycle (a store read, a message to the window)
    # every 6 s, not every 0.2 s
    assert len(set(due)) == BEATS == 10


@given(st.text(min_size=1, max_size=20), st.floats(0, 1e7), st.floats(1, 3600))
def test_an_account_keeps_its_beat(account_id: str, now: float, interval: float) -> None:
    first = next_look(account_id, now, interval)
    assert now + interval / 2 <= first <= now + 1.5 * interval + 1e-6
    second = next_look(account_id, first, interval)  # looked at when due
    assert abs((second - first) - interval) < 1e-6 * max(1.0, now)
    # a look out of turn (a refresh) comes back to the same beat
    after_refresh = next_look(account_id, first + interval / 3, interval)
    assert abs((after_refresh - first) / interval - round((after_refresh - first) / interval)
               ) < 1e-6 * max(1.0, now)
