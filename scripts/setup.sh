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
