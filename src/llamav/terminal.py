"""Text from a benchmark or a model, made safe to print on a terminal.

A category holding `ESC]0;...BEL` retitles the window, an id holding `ESC[2J` clears the screen, a
carriage return or a right-to-left override hides what comes before or after it. As `ls` and `git`
do, such characters are shown, not obeyed: `visible("a\\x1b[2Jb")` is the text `a\\x1b[2Jb`.

What `visible` returns is plain text, not rich markup: print it with `markup=False` or inside a
`rich.text.Text` (a table cell given a plain `str` is parsed as markup), or pass it through
`rich.markup.escape` before putting it into a markup string. A category `[/bold]cat` then prints
as `[/bold]cat`.
"""

from __future__ import annotations

import unicodedata

# Format characters that are invisible yet hide, join or reorder the text around them: zero-width
# space and marks, the bidirectional embeddings, overrides and isolates (the "Trojan source"
# characters), word joiner and invisible operators, the byte-order mark, tag characters. Zero-width
# joiner and non-joiner (U+200D, U+200C) are kept: emoji sequences and several scripts need them.
_HIDDEN = frozenset(
    [0x061C, 0x180E, 0x200B, 0x200E, 0x200F, 0xFEFF]
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2065))
    + list(range(0x2066, 0x2070))
    + list(range(0xE0000, 0xE0080))
)


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\r`, `\\u202e`), so
    that printing it never moves the cursor, changes the terminal or hides text.

    Escaped: C0 and C1 controls and DEL (tab and newline too, unless `keep_newlines`, for text
    that is meant to span lines: a question, a reasoning chain), lone surrogates (which cannot be
    printed at all), the line and paragraph separators, and the invisible format characters
    listed in `_HIDDEN`. Everything else, backslashes included, is returned as it is. With
    `keep_newlines`, a Windows line end (`\r\n`) is a newline; a lone `\r` is still escaped.
    """
    if text.isprintable() and text.isascii():
        return text  # the common case, at C speed
    kept = "\n\t" if keep_newlines else ""
    if keep_newlines:
        text = text.replace("\r\n", "\n")
    return "".join(_escape(c) if c not in kept and _is_hidden(c) else c for c in text)


def _is_hidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or ord(char) in _HIDDEN


def _escape(char: str) -> str:
    code = ord(char)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
