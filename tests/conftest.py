"""Shared test setup. Tests never reach a model or dataset hub: everything is built here."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The judge's default SQLite cache lives under the user's home; tests keep theirs to themselves.
os.environ.setdefault("LLAMAV_CACHE_DIR", tempfile.mkdtemp(prefix="llamav-test-cache-"))
# The run store (runs/llamav.db by default) too: a test that wants a store of its own passes --store.
os.environ.setdefault("LLAMAV_STORE", os.path.join(tempfile.mkdtemp(prefix="llamav-test-store-"), "llamav.db"))


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by Selenium, cut off from the network, with a fresh profile."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1300,1600",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
