"""The README is the front door: its commands and code must work as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()


def _block_after(marker: str, fence: str) -> str:
    start = README.index(marker)
    body = README.index(fence, start) + len(fence)
    return README[body : README.index("```", body)]


def test_ci_runs_exactly_the_readme_test_command():
    command = _block_after("<!-- quickstart:test -->", "```bash").strip()
    assert command.startswith("python3 -m venv") and command.endswith("pytest -q")
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "quickstart:test" in ci  # .ci/run reads the command from the README instead of a copy


def test_the_main_job_is_llamav_eval():
    command = _block_after("<!-- quickstart:main -->", "```bash").strip()
    assert re.search(r"&& llamav eval$", command)


def test_the_python_api_example_runs(tmp_path):
    code = _block_after("## Python API", "```python")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "sample.png").is_file()
    assert "faithfulness_step" in done.stdout
