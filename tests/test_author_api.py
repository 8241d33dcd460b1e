"""Drafting through the OpenAI protocol, as the paper drafted with GPT-4o: `llamav author draft
--model openai:...` against a real `llamav serve` on loopback (an API backend declares concurrent
calls, so its samples are drafted in threads)."""

import pytest
from serve_support import Server
from typer.testing import CliRunner
from vrc_files import vrc_row, write_parquet

from llamav.author import Project, init_project
from llamav.cli import app
from llamav.models import backend_capabilities


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(["--model", "tiny-random", "--max-tokens", "64"], tmp_path_factory.mktemp("serve") / "server.log")
    yield srv
    srv.close()


def test_drafting_through_an_api_backend_drafts_every_sample_in_threads_and_tracks_the_cost(server, tmp_path, monkeypatch):
    assert backend_capabilities("openai:tiny-random").concurrency > 1
    source = write_parquet(tmp_path / "source.parquet", [vrc_row(i) for i in range(1, 7)])
    init_project(str(source), tmp_path / "project")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "none")
    result = CliRunner().invoke(app, ["author", "draft", str(tmp_path / "project"), "--model", "openai:tiny-random",
                                      "--max-new-tokens", "8"])
    assert result.exit_code == 0, result.output
    with Project(tmp_path / "project") as project:
        drafts = project.drafts()
        assert sorted(d.sample_id for d in drafts) == [str(i) for i in range(1, 7)]
        assert all(d.error is None and d.model == "openai:tiny-random" for d in drafts)
        assert project.spend()["model_calls"] == 6 and project.spend()["prompt_tokens"] > 0
    assert "cost: 6 calls" in result.output
