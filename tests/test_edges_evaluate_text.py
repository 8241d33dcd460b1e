"""What evaluation reads from text and names, on the paths the main tests pass by: a heading that
says something is a step, turns whose stages are named otherwise, a text answer that states
nothing, a name registered twice, and a hub that answers the probe."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llamav.reasoning.parse import extract_answer
from llamav.records import Sample
from llamav.registry import Registry
from llamav.text import answer_and_reasoning, split_steps


def test_a_heading_that_says_something_is_a_step_and_a_heading_that_names_a_section_is_not():
    steps, marked = split_steps("### 1. Count the bars\nThere are three bars.\n\n### Answer\nThree.")
    assert (steps, marked) == (["1. Count the bars", "There are three bars.", "Three."], False)


@dataclass
class Turn:
    stage: str
    response: str


def test_turns_whose_stages_are_named_otherwise_are_answered_by_the_last_turn():
    turns = [Turn("plan", "I will count the bars."), Turn("count", "<CONCLUSION>Three bars.</CONCLUSION>")]
    assert answer_and_reasoning(turns) == ("Three bars.", "")
    assert answer_and_reasoning([]) == ("", "")  # no turn: nothing to answer with


LONG = ("The picture shows a bar chart with several bars of different heights, drawn over a grey grid, with "
        "labels under each bar that are too small to read")


def test_a_text_answer_that_states_nothing_is_its_first_line_marked_unparsed():
    sample = Sample(id="a", question="What colour is the bar?", image=b"", final_answer="red")
    assert extract_answer("Looking at the chart.\n" + LONG, sample) == ("Looking at the chart.", ["answer_unparsed"])
    assert extract_answer("The answer is red.", sample) == ("red", [])  # a stated answer is read


def test_a_name_registered_twice_is_refused_and_the_first_entry_kept():
    registry: Registry[int] = Registry("decoding strategy")
    registry.register("beam")(1)
    with pytest.raises(ValueError) as caught:
        registry.register("beam")(2)
    assert str(caught.value) == "decoding strategy 'beam' is registered twice"
    assert registry.get("beam") == 1


class _Hub(BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802  (http.server's name)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


def test_a_hub_that_answers_the_probe_keeps_the_process_online(monkeypatch):
    from huggingface_hub import constants

    from llamav import hub

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Not offline, and the hub's endpoint is a real server on loopback that answers HEAD.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # straight to loopback, whatever proxy CI sets
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    hub.hub_reachable.cache_clear()
    try:
        assert hub.offline_unless_reachable() is False
        assert constants.HF_HUB_OFFLINE is False  # the process was not switched to offline mode
    finally:
        hub.hub_reachable.cache_clear()
        server.shutdown()
        server.server_close()
