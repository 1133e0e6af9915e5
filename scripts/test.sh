#!/usr/bin/env bash
# Set up everything from scratch (as on a new machine) and run the whole test suite,
# including the slow tests that load the real models.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
