"""Mutation testing of llamav's core with mutmut (not part of CI: minutes per module).

    pip install -e '.[mutation]'
    python scripts/mutation.py                    # every target, one after the other
    python scripts/mutation.py aggregate keys     # some of them
    python scripts/mutation.py --list             # the targets, their code and their tests

Each target is one module (or some functions of one), mutated one change at a time; each mutant is
tested against a fast subset of tests. mutmut runs the subset once, notes which tests reach which
function, then runs only those tests for each mutant, in a process forked from one that has
already imported everything: a fraction of a second per mutant.

The work happens in a copy of the working tree under --work (default /tmp/llamav-mutation), one
folder per target: mutmut writes its mutants into the tree it runs in, and nobody else's tests may
import them. For each target the script prints the mutation score, killed / (killed + survived),
where a mutant no selected test reaches counts as survived and one whose tests time out as killed,
and writes `<target>-survivors.txt` with the diff of every survivor. Survivors proven equivalent
by `sql_case_only` (the letter case of SQL text) are counted apart and left out of the score:
killed / (killed + survived - equivalent), the textbook score. docs/testing.md holds the figures
and says why each survivor left is equivalent or not worth a test.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# mutmut's statuses, as this script counts them.
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious"}


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    # Only these top-level functions and classes are mutated; None: the whole module.
    functions: tuple[str, ...] | None = None


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
        ("tests/test_edges_store.py", "tests/test_edges_store_claims.py", "tests/test_edges_store_readonly.py",
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
         "tests/test_answer_table.py", "tests/test_edges_answer_reading.py"),
    ),
    "images-paths": Target(
        "src/llamav/images.py",
        ("tests/test_edges_paths.py", "tests/test_images_files.py", "tests/test_bench_hostile.py"),
        functions=("load_image", "resolve_image_path", "read_image_file", "open_regular_file", "read_bounded",
                   "_not_a_file", "_too_large", "_shorten"),
    ),
    "serve-guards": Target(
        "src/llamav/serve/_protocol.py",
        ("tests/test_edges_serve_guards.py",),
        functions=("ChatRequest", "parse_request", "_depth", "build_job", "_beam_width", "_tools", "_json_schema",
                   "_conversation", "_text_of", "decode_image_url", "_reason_job"),
    ),
    "resume": Target(
        "src/llamav/evaluate/run.py",
        # generate_missing's tests build the model once and make two-token direct answers (the
        # llamav-o1 ones of test_edges_resume.py take seconds a mutant); its score tests need no model.
        ("tests/test_edges_resume_fast.py",
         "tests/test_edges_resume.py::test_a_stored_failed_score_stays_the_result_without_retry_failed",
         "tests/test_edges_resume.py::test_retry_failed_scores_a_stored_failure_again",
         "tests/test_edges_resume.py::test_a_failed_prediction_gets_a_failed_score_that_is_never_stored",
         "tests/test_edges_resume.py::test_scores_are_committed_chunk_by_chunk_and_counted",
         "tests/test_evaluate_store.py::test_scores_are_read_back_not_computed_again"),
        functions=("generate_missing", "score_missing"),
    ),
}


def copy_tree(tree: Path) -> None:
    """The working tree's code, tests and project file, without caches or the environment."""
    if tree.exists():
        shutil.rmtree(tree)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for part in ("src", "tests"):
        shutil.copytree(ROOT / part, tree / part, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", tree / "pyproject.toml")


def fence_off(path: Path, keep: tuple[str, ...]) -> None:
    """Mark every top-level function and class of `path` but `keep` as not to be mutated (mutmut's
    `# pragma: no mutate start/end`), in the copy only."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, fences = set(), []
    for node in ast.parse("\n".join(lines)).body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if node.name in keep:
            found.add(node.name)
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        fences.append((first, node.end_lineno))
    missing = sorted(set(keep) - found)
    if missing:
        raise SystemExit(f"{path}: no top-level {', '.join(missing)}; update TARGETS in scripts/mutation.py")
    for first, last in reversed(fences):
        lines[last:last] = ["# pragma: no mutate end"]
        lines[first - 1:first - 1] = ["# pragma: no mutate start"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def setup_cfg(target: Target) -> str:
    tests = "\n    ".join(target.tests)
    return ("[mutmut]\n"
            "source_paths=src/llamav\n"
            f"only_mutate={target.module}\n"
            f"pytest_add_cli_args_test_selection={tests}\n"
            "pytest_add_cli_args=-p\n    no:cacheprovider\n")


def results(tree: Path, env: dict[str, str]) -> dict[str, str]:
    """mutant name -> mutmut's status."""
    listed = subprocess.run(["mutmut", "results", "--all", "true"], cwd=tree, env=env, capture_output=True,
                            text=True, check=True).stdout
    return dict(re.findall(r"^\s+(\S+): (.+)$", listed, flags=re.MULTILINE))


# A string literal, double- or single-quoted (the quotes of SQL inside a Python string stay inside it).
STRING = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'""")
# The code just before a literal that makes it SQL text: among the leading string arguments of a
# call that runs SQL (`execute`, `executemany`) or puts its string arguments into SQL (the store's
# `_read` and `_select`). Matched at the end of the code before the literal, across lines.
SQL_CALL = re.compile(r"""\b(?:execute|executemany|_read|_select)\((?:\s*(?:"[^"]*"|'[^']*')\s*,?)*\s*$""")


def sql_case_only(diff: str) -> bool:
    """Whether the mutant in `diff` (what `mutmut show` prints: a unified diff of the mutated
    function) only changes the letter case of one SQL literal holding no quoted SQL literal.
    SQLite reads keywords, identifiers and pragma values alike in any case, so such a mutant is
    equivalent; inside quotes ('table') case matters, so those are left to the tests."""
    lines = diff[diff.find("\n@@"):].splitlines()[2:]  # the hunk, after the file names and its @@ line
    removed = [i for i, line in enumerate(lines) if line.startswith("-")]
    added = [line[1:] for line in lines if line.startswith("+")]
    if len(removed) != 1 or len(added) != 1:
        return False
    old, new = lines[removed[0]][1:], added[0]
    if old == new or old.lower() != new.lower():
        return False
    changed = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
    literal = next((m for m in STRING.finditer(old) if m.start() < changed[0] and changed[-1] < m.end() - 1), None)
    if literal is None or "'" in literal.group()[1:-1]:
        return False
    before = "\n".join([line[1:] for line in lines[:removed[0]]] + [old[:literal.start()]])
    return SQL_CALL.search(before) is not None


def mutate(name: str, target: Target, work: Path, children: int) -> str:
    tree = work / name
    copy_tree(tree)
    if target.functions:
        fence_off(tree / target.module, target.functions)
    (tree / "setup.cfg").write_text(setup_cfg(target))
    # One OpenMP thread: torch's thread pool does not survive a fork, and mutmut forks every mutant's
    # test process from one that already ran the model (the child hung until mutmut's timeout).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    print(f"== {name}: {target.module}", flush=True)
    run = subprocess.run(["mutmut", "run", "--max-children", str(children)], cwd=tree, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{name}: mutmut run failed ({run.returncode}):\n{run.stderr[-3000:]}")
    status = results(tree, env)
    killed = sum(s in KILLED for s in status.values())
    survivors = sorted(m for m, s in status.items() if s in SURVIVED)
    other = sorted({s for s in status.values() if s not in KILLED | SURVIVED})
    diffs = [subprocess.run(["mutmut", "show", m], cwd=tree, env=env, capture_output=True, text=True).stdout
             for m in survivors]
    equivalent, left = [], []
    for diff in diffs:
        (equivalent if sql_case_only(diff) else left).append(diff)
    (work / f"{name}-survivors.txt").write_text("\n".join(left))
    (work / f"{name}-equivalent.txt").write_text("\n".join(equivalent))
    total = killed + len(left)
    score = 100.0 * killed / total if total else 100.0
    return (f"{name:16} {target.module:36} {score:5.1f}%  killed {killed}, survived {len(left)}, "
            f"equivalent (SQL case) {len(equivalent)}" + (f" (also: {', '.join(other)})" if other else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/llamav-mutation"), help="scratch folder")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1, help="mutants tested at once")
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
            print(f"{name}: {what}\n    pytest {' '.join(target.tests)}")
        return
    if shutil.which("mutmut") is None:
        raise SystemExit("mutmut is not installed: pip install -e '.[mutation]'")
    args.work.mkdir(parents=True, exist_ok=True)
    lines = [mutate(name, TARGETS[name], args.work, args.children) for name in names]
    print("\n".join(["", "mutation score, killed / (killed + survived), equivalent mutants left out:", *lines]))
    print(f"survivors' diffs: {args.work}/<target>-survivors.txt (equivalent ones: <target>-equivalent.txt)")


if __name__ == "__main__":
    sys.exit(main())
