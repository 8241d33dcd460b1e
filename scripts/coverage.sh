#!/usr/bin/env bash
# Line and branch coverage of src/llamav across processes (not part of CI):
#
#   scripts/coverage.sh                                   # the whole suite (long: a quiet machine)
#   scripts/coverage.sh tests/test_serve.py tests/test_edges_serve.py
#   scripts/coverage.sh -m "not slow" tests/              # anything pytest takes
#
# Needs coverage >= 7.10 (pip install -e '.[coverage]'). The test processes and every Python
# process they start write their own data file; `coverage combine` joins them, and the report
# counts a line or branch covered when any process ran it. The data stays in $COVERAGE_DATA
# (default /tmp/llamav-coverage) for `coverage html` or `coverage report -m`.
set -uo pipefail
cd "$(dirname "$0")/.."
data="${COVERAGE_DATA:-${TMPDIR:-/tmp}/llamav-coverage}"
rm -rf "$data"
mkdir -p "$data"
export COVERAGE_FILE="$data/.coverage" COVERAGE_RCFILE="$PWD/scripts/coverage.ini"
python -m coverage run -m pytest -p no:cacheprovider "$@"
status=$?
python -m coverage combine --quiet "$data"
python -m coverage report
echo "data: $data (COVERAGE_FILE=$COVERAGE_FILE COVERAGE_RCFILE=$COVERAGE_RCFILE python -m coverage report -m)"
exit $status
