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

# Debian packages the course needs beyond Python: installed when missing and we may (root with
# apt-get); otherwise say what is missing and carry on.
apt_install() {   # apt_install WHY PACKAGE
    echo "setup: installing $2 ($1)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 \
            || echo "setup: could not install $2"
    fi
}
may_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# `autograder grade` runs learner code inside bubblewrap (Debian package `bubblewrap`). Without
# it the grader warns loudly and falls back to a plain subprocess with limits (or refuses, with
# --require-sandbox).
if ! command -v bwrap >/dev/null 2>&1; then
    if may_apt; then
        apt_install "the sandbox of autograder grade" bubblewrap
    else
        echo "setup: bubblewrap (bwrap) is not installed; install it for autograder grade's sandbox"
    fi
fi

# The browser tests (tests/test_browser.py) drive Debian's chromium with Playwright; Playwright's
# own browser download is never used.
if [ ! -x /usr/bin/chromium ]; then
    if may_apt; then
        apt_install "for the browser tests" chromium
    else
        echo "setup: chromium is not installed (/usr/bin/chromium); install it for the browser tests"
    fi
fi

# PostgreSQL's server programs (Debian package `postgresql`): the PostgreSQL gradebook tests start
# a throwaway cluster with them (tests/postgres_server.py) and are skipped without them.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if may_apt; then
        apt_install "for the PostgreSQL gradebook tests" postgresql
    else
        echo "setup: PostgreSQL is not installed; the PostgreSQL gradebook tests will be skipped"
    fi
fi
