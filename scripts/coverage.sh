#!/usr/bin/env bash
# Line and branch coverage of src/llamav across processes, for part of the suite (.ci/run measures
# the whole suite the same way):
#
#   scripts/coverage.sh                                   # the whole suite (long: a quiet machine)
#   scripts/coverage.sh tests/test_serve.py tests/test_edges_serve.py
#   scripts/coverage.sh -m "not slow" tests/              # anything pytest takes
#
# coverage >= 7.10 comes with the test extra. The test processes and every Python
# process they start write their own data file; scripts/branch_coverage.py joins them and prints
# the report, where a line or branch counts as covered when any process ran it. The data stays in
# $COVERAGE_DATA (default /tmp/llamav-coverage) for `coverage html` or `coverage report -m`.
set -uo pipefail
cd "$(dirname "$0")/.."
data="${COVERAGE_DATA:-${TMPDIR:-/tmp}/llamav-coverage}"
rm -rf "$data"
mkdir -p "$data"
# coverage.py's .pth hook starts measuring in any Python process that sees COVERAGE_PROCESS_START,
# pytest itself included; the settings file's `patch` covers forks and os._exit.
export COVERAGE_FILE="$data/.coverage" COVERAGE_PROCESS_START="$PWD/scripts/coverage.ini"
python -m pytest -p no:cacheprovider "$@"
status=$?
unset COVERAGE_PROCESS_START
python scripts/branch_coverage.py "$data" || status=1
echo "data: $data (COVERAGE_FILE=$data/.coverage COVERAGE_RCFILE=$PWD/scripts/coverage.ini python -m coverage report -m)"
exit $status
