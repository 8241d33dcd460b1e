"""`llamav bench` prints a benchmark's text (categories, ids, paths, skip reasons) as data: never
as rich markup, and with control characters shown rather than sent to the terminal."""

from __future__ import annotations

import json

from typer.testing import CliRunner
from vrc_files import png

from llamav.cli import app


def _bench(folder, rows):
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "ok.png").write_bytes(png())
    lines = [{"image": "images/ok.png", "question": "Which colour?", "steps": ["Step 1: look."],
              "final_answer": "red", **row} for row in rows]
    path = folder / "bench.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _run(*args):
    return CliRunner().invoke(app, list(args))


def _flat(output: str) -> str:
    return " ".join(output.split())


def test_bench_info_prints_a_category_that_looks_like_markup_as_it_is(tmp_path):
    path = _bench(tmp_path, [{"idx": 1, "category": "[/bold]cat"}, {"idx": 2, "category": "[red]dog[/red]"}])
    result = _run("bench", "info", str(path))
    assert result.exit_code == 0, result.output
    assert "[/bold]cat" in result.output and "[red]dog[/red]" in result.output


def test_bench_show_prints_an_id_that_looks_like_markup_as_it_is(tmp_path):
    path = _bench(tmp_path, [{"idx": "x[/]", "question": "What is [b]this[/b]?"}])
    result = _run("bench", "show", str(path), "--id", "x[/]", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "x[/]" in result.output and "What is [b]this[/b]?" in result.output
    assert (tmp_path / "out" / "x___.png").exists()


def test_a_skip_reason_naming_a_path_that_looks_like_markup_is_printed_as_it_is(tmp_path):
    path = _bench(tmp_path, [{"idx": 1}, {"idx": 2, "image": "missing[/].png"}])
    result = _run("bench", "info", str(path))
    assert result.exit_code == 0, result.output
    assert "image file not found: missing[/].png" in _flat(result.output)


def test_control_characters_in_categories_ids_and_paths_are_shown_not_sent(tmp_path):
    path = _bench(tmp_path, [
        {"idx": 1, "category": "\x1b]0;pwned\x07cat"},
        {"idx": 2, "image": "gone\x1b[2J.png"},
        {"idx": 3, "question": "Which\x1b[2J colour?"},
    ])
    for args in (("bench", "info", str(path)), ("bench", "export", str(path), "--out", str(tmp_path / "o.parquet"))):
        result = _run(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output
    info = _flat(_run("bench", "info", str(path)).output)
    assert "\\x1b]0;pwned\\x07cat" in info
    assert "gone\\x1b[2J.png" in info


def test_bench_show_shows_control_characters_in_the_question_and_chain(tmp_path):
    path = _bench(tmp_path, [{"idx": 1, "question": "Which\x1b[2J colour?\nSay it.",
                              "steps": ["Step 1: look\r", "Step 2: \x1b[31mred"], "final_answer": "red\x07"}])
    result = _run("bench", "show", str(path), "--id", "1", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output and "\r" not in result.output
    assert "Which\\x1b[2J colour?\nSay it." in result.output
    assert "Step 2: \\x1b[31mred" in result.output and "red\\x07" in result.output


def test_bench_show_names_a_missing_id_that_looks_like_markup(tmp_path):
    path = _bench(tmp_path, [{"idx": 1}])
    result = _run("bench", "show", str(path), "--id", "[/]\x1b[2J", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "no sample with id '[/]\\x1b[2J'" in result.output
