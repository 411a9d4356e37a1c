"""Hypothesis strategies the tests share (one definition, so they cannot drift)."""

from __future__ import annotations

from hypothesis import strategies as st

PASSWORDS = st.text(
    alphabet=st.one_of(st.sampled_from(list("'\"$\\/&;| `\t!#*?~()<>{}[]%=")),
                       st.characters(codec="utf-8", exclude_categories=("Cs",))),
    min_size=1, max_size=48).filter(lambda p: not set(p) & {"\r", "\n", "\x00"})
"""What an IBKR password may hold: quotes, $, backslashes, /, &, ;, =, spaces, tabs,
non-ASCII; not a line break, which IBeam's text-mode read would change
(`ib.check_deliverable` refuses it), nor NUL."""
