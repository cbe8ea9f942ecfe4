"""Text that callers supply, made safe to show on one line.

A caller ID (number and name) is whatever the calling side put in its SIP
``From`` header: it can hold line breaks (a mail header split in two, a forged
log line in a terminal), terminal escape sequences, NULs (which PostgreSQL
refuses in text), lone surrogates (which cannot be encoded as UTF-8), or
Unicode bidi overrides that make ``+7916...`` read differently on a screen.

``one_line`` replaces each run of such characters with U+FFFD (so it shows that
something was there, and a number with junk in it stays an invalid number) and
bounds the length. It is pure, and idempotent: cleaning twice changes nothing.
"""

from __future__ import annotations

import re

CALLER_MAX_CHARS = 80  # a caller ID number or name (E.164 numbers have at most 16)
REPLACEMENT = "\ufffd"
ELLIPSIS = "\u2026"
UNSAFE = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f"  # C0 controls (CR, LF, TAB, ESC, NUL, ...), DEL, C1 controls (NEL)
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
    "\ud800-\udfff"  # lone surrogates (JSON's "\\ud800" decodes to one)
    "]+"
)


def one_line(text: str, limit: int | None = CALLER_MAX_CHARS) -> str:
    """``text`` without control, separator or bidi override characters (each run
    becomes U+FFFD), at most ``limit`` (1 or more) characters (cut ones end with an ellipsis);
    ``limit=None``: no bound (a log line read back)."""
    clean = UNSAFE.sub(REPLACEMENT, text)
    if limit is not None and len(clean) > limit:
        return clean[: max(limit - 1, 0)] + ELLIPSIS
    return clean
