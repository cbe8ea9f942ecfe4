"""Tier 1: caller-supplied text made safe for one line (switchboard.text.one_line)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.text import CALLER_MAX_CHARS, ELLIPSIS, REPLACEMENT, one_line

BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
# Anything at all, with the characters that matter drawn often.
EDGES = ["\r", "\n", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\ud800"]
NASTY = st.text(
    st.one_of(st.characters(codec=None), st.sampled_from([*EDGES, *sorted(BIDI_CONTROLS)])),
    max_size=200,
)


def unsafe(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS


@given(NASTY, st.one_of(st.none(), st.integers(1, 120)))
def test_the_result_is_one_line_bounded_and_cleaning_again_changes_nothing(
    text: str, limit: int | None
) -> None:
    clean = one_line(text, limit)
    assert not any(unsafe(c) for c in clean)
    assert len(clean.splitlines()) <= 1
    assert limit is None or len(clean) <= limit
    assert one_line(clean, limit) == clean
    clean.encode("utf-8")  # (no lone surrogate left)


@given(st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=CALLER_MAX_CHARS))
def test_ordinary_caller_ids_are_kept_as_they_are(text: str) -> None:
    assert one_line(text) == text


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("+79161234567", "+79161234567"),
        ("Иван Петров", "Иван Петров"),
        ("+79161234567\r\nBcc: x@evil", f"+79161234567{REPLACEMENT}Bcc: x@evil"),
        ("\x1b[2J\x1b[31mred", f"{REPLACEMENT}[2J{REPLACEMENT}[31mred"),
        ("abc\u202e4567", f"abc{REPLACEMENT}4567"),  # no right-to-left override
        ("a\u2028b\x85c\x00d", f"a{REPLACEMENT}b{REPLACEMENT}c{REPLACEMENT}d"),
        ("", ""),
    ],
)
def test_unsafe_characters_become_one_visible_replacement_each_run(text: str, clean: str) -> None:
    assert one_line(text) == clean


def test_long_text_is_cut_with_an_ellipsis() -> None:
    assert one_line("9" * 200) == "9" * (CALLER_MAX_CHARS - 1) + ELLIPSIS
    assert one_line("9" * 200, 5) == "9999" + ELLIPSIS
    assert one_line("9" * 200, None) == "9" * 200
