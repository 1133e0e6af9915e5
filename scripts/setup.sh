#!/usr/bin/env bash
# Set up everything on a fresh machine: a .venv in the checkout, the package, the bundled models
# (assembled, verified and converted once into .cache/), and the search index.
#   scripts/setup.sh          # to run the app
#   scripts/setup.sh --test   # also the test tools (pytest, hypothesis, openai, playwright + Debian chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "==> installing torch (CPU build) and the qa package"
# torch first and pinned: an unpinned requirement can pull a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
if [ "$want_test" = 1 ]; then
  .venv/bin/pip install -q -e ".[test]"
else
  .venv/bin/pip install -q -e .
fi

if [ "$want_test" = 1 ]; then
  # The browser tests drive Debian's chromium with playwright (which never downloads a browser);
  # the PDF tests typeset Chinese with the Noto CJK font, which also makes the chat readable in
  # screenshots. Each is installed when it is missing and this is root with apt-get.
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$missing fonts-noto-cjk"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "==> installing$missing for the browser and PDF tests"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      # shellcheck disable=SC2086 # one package name per word
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      echo "==> missing:$missing, and this is not root with apt-get: the browser or PDF tests will be skipped" >&2
      echo "    (install with: sudo apt-get install$missing)" >&2
    fi
  fi
fi

echo "==> preparing the generation model (first time: about a minute)"
.venv/bin/qa models
echo "==> building the search index"
.venv/bin/qa index
echo "==> ready"
