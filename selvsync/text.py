"""Showing untrusted text safely: the one definition of a character that must not reach a
terminal, a CI log or a PR comment as it is.

Live data (client names, descriptions, Digdir's error messages) and file contents are
untrusted. Control characters move the cursor or colour the log; format characters such as
the bidi override U+202E reorder what a reviewer reads; line separators split a line where
none shows. Each becomes a visible escape.
"""

from __future__ import annotations

import unicodedata

# Control, format, line/paragraph separator, surrogate, private-use, unassigned.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def escape(text: str) -> str:
    """``text`` with every unsafe character written as ``\\uXXXX`` (``\\UXXXXXXXX`` above the
    Basic Multilingual Plane); printable text, Norwegian letters included, is unchanged."""
    if text.isprintable():
        return text
    return "".join(_visible(c) if is_unsafe(c) else c for c in text)


def escape_json(text: str) -> str:
    """JSON text (``ensure_ascii=False``) with unsafe characters as JSON ``\\u`` escapes; the
    document means the same, but shows nothing invisible."""
    if text.isprintable() or all(c == "\n" or not is_unsafe(c) for c in text):
        return text
    out = []
    for char in text:
        if char != "\n" and is_unsafe(char):
            code = ord(char)
            if code > 0xFFFF:  # JSON escapes astral code points as a surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def _visible(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
