"""The row loader never raises on arbitrary field values: every row becomes a Sample or a
SkippedSample with a reason (property tests, Hypothesis)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vrc_files import png

from llamav.bench import load_rows, load_source
from llamav.records import Sample, SkippedSample

PNG = png()

# What a cell can hold after `datasets` or `json` read it.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.binary(max_size=30),
    st.dates(),
    st.datetimes(),
    st.decimals(allow_nan=True, allow_infinity=True),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
images = st.one_of(
    values,
    st.just(PNG),
    st.fixed_dictionaries({"bytes": st.one_of(st.just(PNG), st.binary(max_size=40), st.none()),
                           "path": st.one_of(st.none(), st.text(max_size=20), st.just("../x.png"),
                                             st.just("http://example.com/a.png"))}),
    st.sampled_from(["", "a.png", "/etc/passwd", "~/x.png", "file:///etc/passwd", "\x00.png", "." * 300]),
)
texts_or_values = st.one_of(st.text(max_size=40), values)
steps = st.one_of(values, st.lists(st.text(max_size=20), max_size=4), st.just('["Step 1: ok"]'))
metadata = st.one_of(values, st.text(max_size=20).map(lambda t: "{" + t), st.just('{"a": 1}'), st.just("[" * 5000))

fields = st.fixed_dictionaries(
    {},
    optional={
        "idx": values,
        "id": values,
        "image": images,
        "question": texts_or_values,
        "steps": steps,
        "final_answer": texts_or_values,
        "options": values,
        "answer_type": values,
        "category": values,
        "split": values,
        "flags": values,
        "metadata": metadata,
        "extra": values,
    },
)
# A well-formed row with some fields replaced, so that every check (not only the first one a
# random row fails) meets hostile values; and rows made of arbitrary fields only.
VALID = {"idx": 1, "image": PNG, "question": "Which?", "steps": ["Step 1: look."], "final_answer": "A"}
rows = st.one_of(
    fields.map(lambda f: {**VALID, **f}),
    images.map(lambda image: {**VALID, "image": image}),
    fields,
)


def _accounted(bench, n_rows: int) -> None:
    assert len(bench.samples) + len(bench.skipped) == n_rows
    assert all(isinstance(s, Sample) for s in bench.samples)
    assert all(isinstance(s, SkippedSample) and s.reason for s in bench.skipped)
    # Our own code never fails in a way it did not foresee: no catch-all reason.
    assert not [s.reason for s in bench.skipped if s.reason.startswith("unexpected error")]
    assert len({s.id for s in bench.samples}) == len(bench.samples)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, min_size=1, max_size=4))
def test_arbitrary_rows_each_become_a_sample_or_a_skipped_sample(tmp_path_factory, batch):
    folder = tmp_path_factory.getbasetemp()
    _accounted(load_rows(batch, folder=folder), len(batch))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["idx", "image", "question", "steps", "final_answer", "metadata", "x"]),
                                json_values, max_size=7), min_size=1, max_size=5))
def test_arbitrary_jsonl_files_load_without_raising(tmp_path, batch):
    (tmp_path / "ok.png").write_bytes(PNG)
    batch = [dict(row, image=row.get("image", "ok.png")) for row in batch]
    path = tmp_path / "fuzz.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in batch) + "{cut off by a cra\n")
    _accounted(load_source(str(path)), len(batch) + 1)


@pytest.mark.parametrize(
    "path", ["." * 300, "a" * 300 + ".png", "\x00.png", "", "  ", "images", "/", "~nobody-here/x.png", "C:\\x.png"]
)
def test_odd_image_paths_are_skipped_with_a_reason_of_their_own(tmp_path, path):
    (tmp_path / "images").mkdir()
    bench = load_rows([{**VALID, "image": path}], folder=tmp_path)
    assert bench.samples == [] and len(bench.skipped) == 1
    assert not bench.skipped[0].reason.startswith("unexpected error"), bench.skipped[0].reason


def test_a_well_formed_row_among_them_still_loads():
    row = {"idx": 3, "image": PNG, "question": "Which?", "steps": None, "final_answer": Decimal("2.5"),
           "when": datetime.date(2020, 1, 1)}
    bench = load_rows([row])
    assert [(s.id, s.final_answer, s.answer_type, s.metadata["when"]) for s in bench] == [
        ("3", "2.5", "decimal", datetime.date(2020, 1, 1))
    ]


# -- category maps -------------------------------------------------------------------------------

cells = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "1", "a,b", '"q"', "\ufeffidx", "cafe\u0301"]))
csv_texts = st.one_of(
    st.lists(st.lists(cells, max_size=4), max_size=6).map(
        lambda rows: "\n".join(",".join(row) for row in [["idx", "category"], *rows])),
    st.text(max_size=80),
)
map_files = st.one_of(
    st.tuples(st.just(".csv"), st.one_of(csv_texts.map(str.encode), st.binary(max_size=80))),
    st.tuples(st.just(".json"), st.one_of(
        st.dictionaries(st.text(max_size=8), json_values, max_size=5).map(lambda d: json.dumps(d).encode()),
        st.binary(max_size=60))),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(map_files, st.booleans())
def test_any_category_map_file_loads_as_text_to_text_or_is_refused_with_a_value_error(tmp_path, file, bom):
    import unicodedata

    from llamav.bench.vrc import load_category_map

    suffix, data = file
    path = tmp_path / f"map{suffix}"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    try:
        mapping = load_category_map(path)
    except ValueError as exc:
        assert str(exc).startswith(str(path)), exc
        return
    for key, category in mapping.items():
        assert isinstance(key, str) and isinstance(category, str)
        assert key and category  # never an empty id, never a made-up category for a gap
        assert key == unicodedata.normalize("NFC", key.strip())


# -- text printed on a terminal ------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text(), st.booleans())
def test_visible_text_holds_no_control_character_and_prints_as_it_is(text, keep_newlines):
    import io
    import unicodedata

    from rich.console import Console
    from rich.text import Text

    from llamav.terminal import visible

    shown = visible(text, keep_newlines=keep_newlines)
    allowed = "\n\t" if keep_newlines else ""
    assert not [c for c in shown if c not in allowed and unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")]
    assert not [c for c in shown if ord(c) in (0x200B, 0x202E, 0x2066, 0xFEFF)]
    shown.encode("utf-8")  # no lone surrogate left
    assert visible(shown, keep_newlines=keep_newlines) == shown
    if not [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]:
        assert visible(text) == text
    out = io.StringIO()
    Console(file=out, width=10_000, force_terminal=False).print(Text(visible(text)), soft_wrap=True)
    assert out.getvalue() == visible(text) + "\n"  # never markup, never a code rich acts on
