#!/usr/bin/env bash
# The course's test suite (pytest, two workers; tests that share an expensive fixture, such as
# one grading run, are kept on one worker by --dist loadgroup). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 --dist loadgroup --durations=15 "$@"
