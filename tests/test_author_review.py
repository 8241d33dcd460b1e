"""The review server: a real FastAPI server on loopback. Every route needs the token, a write
needs it in a header and a same-site origin, and a benchmark text holding `<script>` is shown as
text in a real browser, never run."""

import threading
import time
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from vrc_files import png, vrc_row, write_parquet

from llamav.author import Project, init_project
from llamav.author.review import TOKEN_HEADER, bind, review_app
from llamav.records import Sample

TOKEN = "the-right-token"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">How many?'
ROUTES = ["/", "/app.js", "/app.css", "/api/samples", "/api/sample?id=1", "/api/image?id=1", "/api/agreement"]


@contextmanager
def serving(project, reviewer="ann", token=TOKEN):
    """The review app on a free port of 127.0.0.1, in a thread, as `llamav author review` runs it."""
    sock = bind(0)
    server = uvicorn.Server(uvicorn.Config(review_app(project, reviewer, token), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def project(tmp_path):
    source = write_parquet(tmp_path / "source.parquet", [vrc_row(1, question=HOSTILE), vrc_row(2)])
    init_project(str(source), tmp_path / "project")
    with Project(tmp_path / "project") as opened:
        yield opened


@pytest.fixture
def server(project):
    with serving(project) as url:
        yield url


def test_every_route_refuses_a_request_without_the_token(server):
    for route in ROUTES:
        assert httpx.get(server + route).status_code == 403, route
    assert httpx.post(server + "/api/edit", json={"id": "1", "action": "decision", "decision": "accept"}).status_code == 403


def test_every_route_refuses_a_wrong_token(server):
    for route in ROUTES:
        joined = "&" if "?" in route else "?"
        assert httpx.get(f"{server}{route}{joined}token=wrong").status_code == 403, route
        assert httpx.get(server + route, headers={TOKEN_HEADER: "wrong"}).status_code == 403, route


def test_with_the_token_every_route_answers_and_says_how_the_browser_must_treat_it(server):
    for route in ROUTES:
        joined = "&" if "?" in route else "?"
        response = httpx.get(f"{server}{route}{joined}token={TOKEN}")
        assert response.status_code == 200, route
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{server}/api/image?id=1&token={TOKEN}").content == png()


def test_a_cross_site_post_is_refused_and_changes_nothing(server, project):
    edit = {"id": "1", "action": "decision", "decision": "reject"}
    # a form on another site can put the token in the URL, but cannot set a header
    form = httpx.post(f"{server}/api/edit?token={TOKEN}", data={"id": "1"}, headers={"Origin": "https://evil.example"})
    # a script on another site that somehow knows the token still sends its own Origin
    scripted = httpx.post(server + "/api/edit", json=edit, headers={TOKEN_HEADER: TOKEN, "Origin": "https://evil.example"})
    # DNS rebinding: another name that resolves to 127.0.0.1
    rebound = httpx.post(server + "/api/edit", json=edit, headers={TOKEN_HEADER: TOKEN, "Host": "evil.example"})
    assert [form.status_code, scripted.status_code, rebound.status_code] == [403, 403, 403]
    assert project.decisions() == {}


def test_a_same_site_write_with_the_token_header_is_saved_at_once(server, project):
    response = httpx.post(server + "/api/edit", json={"id": "1", "action": "decision", "decision": "reject"},
                          headers={TOKEN_HEADER: TOKEN, "Origin": server})
    assert response.status_code == 200 and response.json()["decision"] == "reject"
    with Project(project.folder) as other:
        assert other.state("1", "ann").decision == "reject"


def test_a_bad_edit_is_a_400_with_its_reason(server):
    response = httpx.post(server + "/api/edit", json={"id": "1", "action": "category", "category": "Poetry"},
                          headers={TOKEN_HEADER: TOKEN})
    assert response.status_code == 400 and "unknown category" in response.json()["detail"]


def test_a_question_holding_a_script_is_shown_as_text_and_never_run(server, browser):  # noqa: F811
    browser.get(f"{server}/?token={TOKEN}")
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "question").text)
    assert browser.find_element(By.ID, "question").get_attribute("textContent") == HOSTILE
    assert browser.find_element(By.CSS_SELECTOR, "#list li").get_attribute("textContent").startswith("1  <script>")
    assert browser.execute_script("return window.pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "#sample script, #sample img[src='x']") == []


def test_a_thousand_sample_project_lists_in_under_two_seconds(tmp_path):
    image = png()
    with Project(tmp_path / "big", create=True) as big:
        big.add_samples(Sample(id=f"s{i:04d}", question=f"Question {i}?", image=image, final_answer="1",
                               steps=["Step 1: Look.", "Step 2: Count."]) for i in range(1000))
        with serving(big) as url:
            started = time.perf_counter()
            listed = httpx.get(f"{url}/api/samples?token={TOKEN}").json()
            first = httpx.get(f"{url}/api/sample?id=s0000&token={TOKEN}").json()
            took = time.perf_counter() - started
    assert len(listed["samples"]) == 1000 and first["steps"] == ["Step 1: Look.", "Step 2: Count."]
    assert took < 2.0


def test_the_page_shows_the_agreement_between_two_reviewers(project, browser):  # noqa: F811
    for sample_id, ann, bob in (("1", "accept", "accept"), ("2", "reject", "accept")):
        project.edit(sample_id, "ann", "decision", {"decision": ann})
        project.edit(sample_id, "bob", "decision", {"decision": bob})
    with serving(project, "bob") as url:
        browser.get(f"{url}/?token={TOKEN}")
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "agreement").text)
        # 1 of 2 agree; ann: accept 1, reject 1, bob: accept 2; p_e = 1/2 = p_o: kappa 0
        assert browser.find_element(By.ID, "agreement").text == "ann & bob: kappa 0.00 (decisions), - (categories) on 2"
        assert browser.find_element(By.ID, "reviewer").text == "reviewer: bob"
