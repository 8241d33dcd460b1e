"""The execution modes when nothing is missing: no model is built, no thread or process started,
and nothing is yielded (a rerun of a finished run must cost nothing)."""

from __future__ import annotations

import pytest

from llamav.evaluate.execution import InProcess, Processes, Threads


def never_built():
    raise AssertionError("a model was built for a run with nothing to make")


@pytest.mark.parametrize("executor", [InProcess(), Threads(4), Processes(2, threads=1)], ids=lambda executor: type(executor).__name__)
def test_with_no_batch_no_model_is_built_and_nothing_is_yielded(executor):
    assert list(executor.run([], never_built)) == []
