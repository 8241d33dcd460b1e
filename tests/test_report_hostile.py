"""report.html shows a benchmark's hostile text as text: the sample browser lists every row and no
script from the data runs (issue 21, item 13). The run is a real `llamav eval` and the page is
loaded in a real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamav.cli import app
from vrc_files import vrc_row, write_jsonl

# Each one has broken a page that embeds data: "<!--<script>" put the parser in its "script data
# double escaped" state (the data block swallowed the page's script), "</script>" ends a block,
# the rest run script wherever they are parsed as markup.
HOSTILE = [
    "What is shown? <!--<script>",
    "</script><script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg> & &amp; &lt;b&gt;",
    "]]> <![CDATA[ \u2028 \u2029 `${window.__pwned = 'template'}` <!--",
    "<iframe srcdoc=\"<script>parent.__pwned = 'iframe'</script>\"></iframe>",
]


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    """report.html of a real run on a benchmark whose questions, chains, answers and categories
    hold the hostile texts."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    rows = [vrc_row(i, question=text, category=f"cat {text}", final_answer=text,
                    steps=[f"Step 1: {text}", "Step 2: count."])
            for i, text in enumerate(HOSTILE)]
    bench = write_jsonl(tmp_path / "bench", rows)
    result = CliRunner().invoke(app, [
        "eval", "--model", "tiny-random", "--max-new-tokens", "4", "--metric", "answer", "--bench", str(bench),
        "--workers", "1", "--run-dir", str(tmp_path / "run"), "--store", str(tmp_path / "store.db")])
    assert result.exit_code == 0, result.output
    return tmp_path / "run" / "report.html"


def test_every_hostile_sample_is_a_row_and_no_script_from_the_data_runs(hostile_report, browser):
    from selenium.webdriver.common.by import By

    browser.get(hostile_report.as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr")
    assert len(rows) == len(HOSTILE)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.find_elements(By.CSS_SELECTOR, "#samples tbody img, #samples tbody svg, #samples tbody iframe") == []


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_the_detail_panel_shows_hostile_text_as_text(hostile_report, browser, index):
    from selenium.webdriver.common.by import By

    browser.get(hostile_report.as_uri())
    browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr")[index].click()
    detail = browser.find_element(By.ID, "detail")
    assert detail.is_displayed()
    text = HOSTILE[index]
    shown = " ".join(detail.text.split())
    assert f"Question. {' '.join(text.split())}" in shown
    assert f"Reference answer: {' '.join(text.split())}" in shown
    assert f"cat {' '.join(text.split())}" in shown
    # The only image in the panel is the sample's own; nothing else became an element.
    assert len(detail.find_elements(By.TAG_NAME, "img")) == 1
    assert detail.find_elements(By.CSS_SELECTOR, "svg, iframe, script") == []
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
