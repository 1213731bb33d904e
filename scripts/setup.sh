#!/usr/bin/env bash
# Create .venv and install the pinned dependencies and the course package into it.
# Idempotent: re-installs only when requirements.txt, constraints.txt or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
want=$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.installed 2>/dev/null)" != "$want" ]; then
    echo "setup: installing pinned dependencies into .venv (about a minute)"
    .venv/bin/pip install --quiet --disable-pip-version-check \
        -r requirements.txt -c constraints.txt -e .
    echo "$want" > .venv/.installed
fi

# `autograder grade` runs learner code inside bubblewrap (Debian package `bubblewrap`). Install it
# when it is missing and we may (root with apt-get); otherwise the grader warns loudly and falls
# back to a plain subprocess with limits (or refuses, with --require-sandbox).
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing bubblewrap (the sandbox of autograder grade)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1; then
            apt-get update -qq >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
                || echo "setup: could not install bubblewrap; autograder grade will warn and run unsandboxed"
        fi
    else
        echo "setup: bubblewrap (bwrap) is not installed; install it for autograder grade's sandbox"
    fi
fi

# The browser tests (tests/test_browser.py) drive Debian's chromium with Playwright; Playwright's
# own browser download is never used. Install chromium the same way when it is missing.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing chromium (for the browser tests)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
            apt-get update -qq >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
                || echo "setup: could not install chromium; the browser tests will fail"
        fi
    else
        echo "setup: chromium is not installed (/usr/bin/chromium); install it for the browser tests"
    fi
fi
