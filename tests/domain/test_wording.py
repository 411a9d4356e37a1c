from ibdesk.domain.wording import clip


def test_a_long_message_is_cut_after_a_word_with_an_ellipsis() -> None:
    """Issue 14's walk-through: evidence cut mid-word ("No such contai")."""
    said = clip("Error response from daemon: No such container: ibeam and more words here", 40)
    assert said.endswith("…") and len(said) <= 40
    assert said == "Error response from daemon: No such…"
    assert clip("short") == "short"
    assert clip("first line\nsecond line") == "first line…"
    assert clip("  ") == ""
    assert clip("x" * 50, 20) == "x" * 19 + "…"
