"""Text from a benchmark or a model is shown on a terminal, never obeyed by it."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from llamav.terminal import visible


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;pwned\x07cat", "\\x1b]0;pwned\\x07cat"),  # retitles the window
        ("x\x1b[2J", "x\\x1b[2J"),  # clears the screen
        ("good\rbad", "good\\rbad"),  # overwrites the line
        ("a\x08b", "a\\x08b"),
        ("del\x7f", "del\\x7f"),
        ("c1\x9b2J", "c1\\x9b2J"),  # the one-byte CSI
        ("two\nlines\ttab", "two\\nlines\\ttab"),
        ("abc\u202egnp.exe", "abc\\u202egnp.exe"),  # right-to-left override
        ("a\u200bb", "a\\u200bb"),  # zero-width space
        ("\ufeffid", "\\ufeffid"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("lone\ud800", "lone\\ud800"),  # a surrogate cannot even be encoded
        ("line\u2028sep", "line\\u2028sep"),
    ],
)
def test_control_and_invisible_characters_are_written_as_escapes(text, shown):
    assert visible(text) == shown


@pytest.mark.parametrize(
    "text", ["plain", "[/bold]cat", "x[/]", "C:\\data\\a.png", "Größe 5 µm", "猫の数", "👩\u200d🔬", "مرحبا", ""]
)
def test_printable_text_is_returned_as_it_is(text):
    assert visible(text) == text


def test_newlines_and_tabs_can_be_kept_for_text_that_spans_lines():
    assert visible("Step 1:\tlook\nStep 2:\x1b[2J", keep_newlines=True) == "Step 1:\tlook\nStep 2:\\x1b[2J"


def test_windows_line_ends_are_newlines_when_newlines_are_kept_and_a_lone_return_is_not():
    assert visible("one\r\ntwo\rthree", keep_newlines=True) == "one\ntwo\\rthree"
    assert visible("one\r\ntwo") == "one\\r\\ntwo"


def test_the_result_is_plain_text_that_rich_prints_unchanged_when_not_parsed_as_markup():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    text = visible("[/bold]cat \x1b[31m[red]x[/]")
    console.print(Text(text))
    console.print(text, markup=False)
    assert out.getvalue() == f"{text}\n{text}\n"
    assert "\x1b" not in out.getvalue()
