"""`llamav author` end to end in headless Chromium: chains drafted by tiny-random, reviewed in the
real page (edit a step, reorder two, reject a sample, change a category), the server killed and
started again, and the export holding exactly those edits."""

import signal
import subprocess
import sys

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait
from typer.testing import CliRunner
from vrc_files import vrc_row, write_parquet

from llamav.author import Project, draft_project, init_project
from llamav.bench import load_source
from llamav.cli import app


def start_review(folder, reviewer):
    """`llamav author review` as a real process; returns it and the URL it printed."""
    process = subprocess.Popen([sys.executable, "-m", "llamav.cli", "author", "review", str(folder), "--reviewer", reviewer],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    if "http://127.0.0.1:" not in line:
        process.kill()
        pytest.fail(f"the server printed no URL: {line!r}")
    return process, line[line.index("http://"):].strip()


def kill(process):
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def wait(browser, condition, seconds=10):
    # the page redraws a sample after each saved edit: an element found just before may be gone
    return WebDriverWait(browser, seconds, ignored_exceptions=(StaleElementReferenceException,)).until(lambda b: condition())


def steps_shown(browser):
    """The steps on the page, read in one go (a redraw cannot fall between two reads)."""
    return browser.execute_script("return [...document.querySelectorAll('#steps .step-text')].map((e) => e.textContent)")


def press(browser, key):
    """A shortcut, sent to the page rather than to a field that has the focus."""
    browser.execute_script("document.activeElement && document.activeElement.blur()")
    browser.find_element(By.TAG_NAME, "body").send_keys(key)


def test_a_review_in_the_browser_survives_a_killed_server_and_is_exported_exactly(tmp_path, browser):  # noqa: F811
    source = write_parquet(tmp_path / "source.parquet", [vrc_row(i) for i in (1, 2, 3)])
    init_project(str(source), tmp_path / "project")
    with Project(tmp_path / "project") as project:
        draft_project(project, "tiny-random", max_new_tokens=8)
        drafted = {sid: project.state(sid, "ann").steps for sid in ("1", "2", "3")}

    server, url = start_review(tmp_path / "project", "ann")
    try:
        browser.get(url)
        wait(browser, lambda: browser.find_element(By.ID, "sample-id").text == "1")
        # sample 1: add a step, edit the first, swap the two, change the category, accept
        browser.find_element(By.ID, "new-step").send_keys("Step 2: There is one red square.", Keys.ENTER)
        wait(browser, lambda: len(steps_shown(browser)) == len(drafted["1"]) + 1)
        browser.find_element(By.CSS_SELECTOR, "#steps li[data-index='0'] button.edit").click()
        editor = browser.find_element(By.CSS_SELECTOR, "#steps textarea.step-editor")
        editor.clear()
        editor.send_keys("Step 1: The picture shows squares.", Keys.ENTER)
        wait(browser, lambda: steps_shown(browser)[0] == "Step 1: The picture shows squares.")
        browser.find_element(By.CSS_SELECTOR, "#steps li[data-index='0'] button.down").click()
        wait(browser, lambda: steps_shown(browser)[1] == "Step 1: The picture shows squares.")
        Select(browser.find_element(By.ID, "category")).select_by_value("Visual Reasoning")
        wait(browser, lambda: "Visual Reasoning" in browser.find_element(By.ID, "category").get_attribute("value"))
        press(browser, "a")
        wait(browser, lambda: browser.find_element(By.ID, "decision").text == "accepted")
        # sample 2: rejected from the keyboard; sample 3: accepted as drafted
        press(browser, "j")
        wait(browser, lambda: browser.find_element(By.ID, "sample-id").text == "2")
        press(browser, "r")
        wait(browser, lambda: browser.find_element(By.ID, "decision").text == "rejected")
        press(browser, "j")
        wait(browser, lambda: browser.find_element(By.ID, "sample-id").text == "3")
        press(browser, "a")
        wait(browser, lambda: browser.find_element(By.ID, "decision").text == "accepted")
        assert browser.find_element(By.ID, "progress-text").text == "3 / 3 reviewed"
        Select(browser.find_element(By.ID, "filter")).select_by_value("rejected")
        assert [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, "#list li")] == ["2"]
        press(browser, "+")
        assert browser.find_element(By.ID, "image").get_attribute("style") == "width: 125%;"
    finally:
        kill(server)

    server, url = start_review(tmp_path / "project", "ann")
    try:
        browser.get(url)
        wait(browser, lambda: browser.find_element(By.ID, "sample-id").text == "1")
        expected = ["Step 2: There is one red square.", "Step 1: The picture shows squares.", *drafted["1"][1:]]
        assert steps_shown(browser) == expected
        assert browser.find_element(By.ID, "changes").text.startswith("your changes: add step")
        assert browser.find_element(By.ID, "progress-text").text == "3 / 3 reviewed"
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        kill(server)

    result = CliRunner().invoke(app, ["author", "export", str(tmp_path / "project"), "--out", str(tmp_path / "bench.parquet")])
    assert result.exit_code == 0, result.output
    exported = {s.id: s for s in load_source(str(tmp_path / "bench.parquet")).samples}
    assert sorted(exported) == ["1", "3"]
    assert exported["1"].steps == expected and exported["1"].category == "Visual Reasoning"
    assert exported["1"].metadata["authoring"]["changes"] == [
        f"add step {len(drafted['1']) + 1}", "edit step 1", "move step 1 to 2", "category"]
    assert exported["3"].steps == drafted["3"] and exported["3"].metadata["authoring"]["changes"] == []
