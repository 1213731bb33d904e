#!/usr/bin/env bash
# Retake the README's screenshots (docs/screenshots/*.png): the browser tests, saving what the
# student and the instructor see. Extra arguments go to pytest (e.g. -k feedback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BROWSER_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest -q tests/test_browser.py "$@"
# the class report's (issue 17): of ps1's samples, and of the robustness corpus (grades the corpus)
BROWSER_SCREENSHOTS="$PWD/docs/screenshots" exec .venv/bin/python -m pytest -q tests/test_class_report.py \
    tests/test_corpus.py -k "chromium or class_report_of_the_corpus"
