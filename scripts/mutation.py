"""Mutation testing of llamav's core with cosmic-ray (not part of CI: it takes minutes to hours).

    pip install -e '.[mutation]'
    python scripts/mutation.py                    # every target, one after the other
    python scripts/mutation.py aggregate keys     # some of them
    python scripts/mutation.py --list             # the targets, their code and their tests

Each target is one module (or a few functions of one), mutated one change at a time, each mutant
tested against a fast subset of tests (seconds per mutant). The work happens in a copy of the
working tree under --work (default /tmp/llamav-mutation): cosmic-ray edits the file it mutates in
place, and other people's tests must never import a mutant from this checkout.

For each target it prints the mutation score (killed / (killed + survived); a mutant whose tests
time out counts as killed) and writes `<target>-survivors.txt` with the diff of every survivor.
docs/testing.md holds the figures and says why each survivor left is equivalent or not worth a test.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = "python -m pytest -x -q -p no:cacheprovider -p no:randomly"

# Operators left out everywhere: a bitwise or shift operator in place of arithmetic on the floats
# and strings of these modules raises TypeError on its first call, so every such mutant dies at
# once and only costs time. Everything else cosmic-ray has is run.
EXCLUDED_OPERATORS = [r"core/ReplaceBinaryOperator_.*_(BitOr|BitAnd|BitXor|LShift|RShift)$"]


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    # Only these functions (and classes) of the module are mutated; None: all of it.
    functions: tuple[str, ...] | None = None
    timeout: float = 120.0

    def command(self) -> str:
        return f"{PYTEST} {' '.join(self.tests)}"


TARGETS = {
    "aggregate": Target(
        "src/llamav/metrics/_aggregate.py",
        ("tests/test_aggregate_interval.py", "tests/test_edges_aggregate.py"),
    ),
    "keys": Target(
        "src/llamav/evaluate/keys.py",
        ("tests/test_edges_keys.py", "tests/test_evaluate_config.py"),
    ),
    "store": Target(
        "src/llamav/evaluate/store.py",
        ("tests/test_edges_store.py",
         "tests/test_evaluate_store.py::test_the_first_success_is_the_result_and_a_failure_stays_on_record",
         "tests/test_evaluate_store.py::test_a_sample_with_the_same_id_but_another_question_is_another_key",
         "tests/test_evaluate_config.py::test_a_damaged_store_is_one_line_naming_the_file",
         "tests/test_evaluate_config.py::test_a_store_path_that_is_a_folder_is_refused"),
    ),
    "answer-matching": Target(
        "src/llamav/metrics/_answer.py",
        ("tests/test_edges_answer.py", "tests/test_metrics_answer.py", "tests/test_answer_table.py"),
    ),
    "answer-reading": Target(
        "src/llamav/answer.py",
        ("tests/test_edges_answer.py", "tests/test_answer_reader.py", "tests/test_metrics_answer.py",
         "tests/test_answer_table.py"),
        timeout=300.0,
    ),
    "images-paths": Target(
        "src/llamav/images.py",
        ("tests/test_edges_paths.py", "tests/test_images_files.py", "tests/test_bench_hostile.py"),
        functions=("load_image", "resolve_image_path", "read_image_file", "open_regular_file", "read_bounded",
                   "_not_a_file", "_too_large", "_shorten", "ImageLimits"),
    ),
    "serve-guards": Target(
        "src/llamav/serve/_protocol.py",
        ("tests/test_edges_serve_guards.py",),
        functions=("ChatRequest", "parse_request", "_depth", "build_job", "_tools", "_json_schema", "_conversation",
                   "_text_of", "decode_image_url", "_reason_job"),
    ),
    "resume": Target(
        "src/llamav/evaluate/run.py",
        ("tests/test_edges_resume.py",
         "tests/test_evaluate_store.py::test_a_finished_generation_loads_no_model_and_a_larger_limit_makes_only_the_new_samples",
         "tests/test_evaluate_store.py::test_scores_are_read_back_not_computed_again"),
        functions=("generate_missing", "score_missing"),
        timeout=300.0,
    ),
}


def copy_tree(work: Path) -> Path:
    """The working tree's code, tests and project file, without caches or the environment."""
    tree = work / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for part in ("src", "tests"):
        shutil.copytree(ROOT / part, tree / part, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def line_ranges(path: Path, names: tuple[str, ...]) -> list[str]:
    """The lines of the named top-level functions and classes, as cosmic-ray's line filter reads them."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names:
            found[node.name] = f"{node.lineno}-{node.end_lineno}"
    missing = sorted(set(names) - set(found))
    if missing:
        raise SystemExit(f"{path}: no top-level {', '.join(missing)}; update TARGETS in scripts/mutation.py")
    return list(found.values())


def config_text(name: str, target: Target, tree: Path) -> str:
    lines = [
        "[cosmic-ray]",
        f'module-path = "{target.module}"',
        f"timeout = {target.timeout}",
        "excluded-modules = []",
        f'test-command = "{target.command()}"',
        "",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "",
        "[cosmic-ray.filters.operators-filter]",
        "exclude-operators = [" + ", ".join(f"'{op}'" for op in EXCLUDED_OPERATORS) + "]",
    ]
    if target.functions:
        ranges = ", ".join(f'"{r}"' for r in line_ranges(tree / target.module, target.functions))
        lines += ["", "[cosmic-ray.filters.line-filter.lines]", f'"{target.module}" = [{ranges}]']
    return "\n".join(lines) + "\n"


def run(command: list[str], tree: Path, env: dict[str, str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, cwd=tree, env=env, check=True)


def summarize(name: str, session: Path, out: Path) -> tuple[int, int, int]:
    """(killed, survived, not run); the survivors' diffs go to `out`."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    killed = survived = pending = 0
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        done = {job_id: result for job_id, result in db.results}
        for item in db.work_items:
            result = done.get(item.job_id)
            if result is None:
                pending += 1
            elif result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            elif result.test_outcome == TestOutcome.SURVIVED:
                survived += 1
                mutation = item.mutations[0]
                survivors.append(f"--- {mutation.operator_name} at line {mutation.start_pos[0]}\n{result.diff}")
            elif result.worker_outcome in (WorkerOutcome.NORMAL, WorkerOutcome.ABNORMAL, WorkerOutcome.EXCEPTION):
                # NORMAL with KILLED or INCOMPETENT (a mutant that cannot even run is caught);
                # ABNORMAL/EXCEPTION: the worker itself died on the mutant.
                killed += 1
            else:
                pending += 1
    out.write_text("\n".join(survivors))
    return killed, survived, pending


def mutate(name: str, target: Target, tree: Path, work: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    config = work / f"{name}.toml"
    session = work / f"{name}.sqlite"
    config.write_text(config_text(name, target, tree))
    session.unlink(missing_ok=True)
    # The unmutated code must pass its tests, or every mutant would look killed.
    print(f"== {name}: baseline", flush=True)
    baseline = subprocess.run(target.command().split(), cwd=tree, env=env, capture_output=True, text=True)
    if baseline.returncode != 0:
        raise SystemExit(f"{name}: the tests fail on the unmutated code:\n{baseline.stdout[-3000:]}")
    run(["cosmic-ray", "init", str(config), str(session)], tree, env)
    run(["cr-filter-operators", str(session), str(config)], tree, env)
    if target.functions:
        run(["cr-filter-lines", str(session), "--config", str(config)], tree, env)
    run(["cosmic-ray", "exec", str(config), str(session)], tree, env)
    killed, survived, pending = summarize(name, session, work / f"{name}-survivors.txt")
    total = killed + survived
    score = 100.0 * killed / total if total else 100.0
    return (f"{name:16} {target.module:36} {score:5.1f}%  killed {killed}, survived {survived}"
            + (f", not run {pending}" if pending else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/llamav-mutation"), help="scratch folder")
    parser.add_argument("--list", action="store_true", help="list the targets and their tests, then stop")
    args = parser.parse_args()
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    names = args.targets or list(TARGETS)
    if args.list:
        for name in names:
            target = TARGETS[name]
            what = f"{target.module} ({', '.join(target.functions)})" if target.functions else target.module
            print(f"{name}: {what}\n    {target.command()}")
        return
    if shutil.which("cosmic-ray") is None:
        raise SystemExit("cosmic-ray is not installed: pip install -e '.[mutation]'")
    args.work.mkdir(parents=True, exist_ok=True)
    tree = copy_tree(args.work)
    lines = [mutate(name, TARGETS[name], tree, args.work) for name in names]
    print("\n".join(["", "mutation score (killed / (killed + survived)):", *lines]))
    print(f"survivors' diffs: {args.work}/<target>-survivors.txt")


if __name__ == "__main__":
    sys.exit(main())
