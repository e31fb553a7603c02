#!/usr/bin/env bash
# Installs what Wisp's builds and tests need beyond the Rust toolchain:
#   - rustup targets wasm32-unknown-unknown and thumbv7em-none-eabihf
#   - Debian's chromium and chromium-driver (browser tests)
#   - wasm-bindgen-cli (same version as the wasm-bindgen crate) and wasm-pack
#   - .venv: Python with `websockets` (tests/peers/requirements.txt)
#   - node_modules: `ws` and `playwright-core` (package-lock.json; no browser download)
#   - .autobahn-venv: Autobahn|Testsuite's wstest, by ../shared/autobahn/install.sh
#
# usage: bash scripts/setup.sh   (from any directory: it works in the repo it is in)
#
# Idempotent: every step checks first and skips what is already there, so a
# second run takes about a second. Prints one line per step; an install's own
# output goes to a log that is shown only if it fails. Needs root (or sudo) for
# apt-get, and the registries crates.io, PyPI, Debian and npm.
set -euo pipefail

WASM_PACK_VERSION=0.15.1
TARGETS=(wasm32-unknown-unknown thumbv7em-none-eabihf)

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
SHARED="$(dirname "$ROOT")/shared"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export DEBIAN_FRONTEND=noninteractive

LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi

# begin NAME starts a step's line; `echo present` or `installed` ends it.
begin() { printf 'setup: %s: ' "$1"; STEP_START=$SECONDS; STEP_NAME=$1; }
installed() { echo "installed in $((SECONDS - STEP_START)) s"; }
# run CMD...: runs CMD with its output in a log; on failure shows the log's end and stops.
run() {
  local log="$LOGS/step.log"
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED"
    echo "setup: $STEP_NAME: command failed: $*" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}

# --- rustup targets -------------------------------------------------------------
begin "rust targets"
have="$(rustup target list --installed)"
missing=()
for t in "${TARGETS[@]}"; do
  grep -qx "$t" <<<"$have" || missing+=("$t")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "present (${TARGETS[*]})"
else
  run rustup target add "${missing[@]}"
  installed
fi

# --- chromium + chromedriver ----------------------------------------------------
begin "chromium, chromium-driver"
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "present"
else
  run $SUDO apt-get update -q
  run $SUDO apt-get install -y -q chromium chromium-driver
  installed
fi

# --- wasm-bindgen-cli -----------------------------------------------------------
begin "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
have="$(wasm-bindgen --version 2>/dev/null || true)"
if [ "$have" = "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  echo "present"
else
  # No --locked: its lock pins webpki-roots 1.0.11, which the crates index here lacks.
  run cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  installed
fi

# --- wasm-pack ------------------------------------------------------------------
begin "wasm-pack"
if command -v wasm-pack >/dev/null 2>&1; then
  echo "present"
else
  run cargo install wasm-pack --version "$WASM_PACK_VERSION"
  installed
fi

# --- Python venv with websockets (interop peers) --------------------------------
WEBSOCKETS_VERSION="$(sed -n 's/^websockets==//p' tests/peers/requirements.txt)"
begin "python .venv (websockets $WEBSOCKETS_VERSION)"
if .venv/bin/python -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
  echo "present"
else
  [ -x .venv/bin/python ] || run python3 -m venv .venv
  run .venv/bin/python -m pip install --disable-pip-version-check -r tests/peers/requirements.txt
  installed
fi

# --- npm packages: ws, playwright-core ------------------------------------------
begin "node_modules (ws, playwright-core)"
if [ -d node_modules/ws ] && [ -d node_modules/playwright-core ] &&
   ! [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "present"
else
  if [ -f package-lock.json ]; then
    run npm ci --no-audit --no-fund
  else
    run npm install --no-audit --no-fund
  fi
  installed
fi

# --- Autobahn|Testsuite ---------------------------------------------------------
begin "autobahn .autobahn-venv"
# install.sh checks each of its steps itself (< 1 s when all is there)
run bash "$SHARED/autobahn/install.sh" .autobahn-venv
if grep -q "already installed" "$LOGS/step.log"; then echo "present"; else installed; fi

# --- versions -------------------------------------------------------------------
echo "setup: versions:"
echo "  $(rustc --version); targets: $(rustup target list --installed | paste -sd' ')"
echo "  $(/usr/bin/chromium --version 2>/dev/null); $(/usr/bin/chromedriver --version | cut -d' ' -f1-2)"
echo "  $(wasm-bindgen --version); $(wasm-pack --version)"
echo "  $(.venv/bin/python --version), websockets $(.venv/bin/python -c 'import websockets; print(websockets.__version__)')"
echo "  node $(node --version), ws $(node -p 'require("ws/package.json").version'), playwright-core $(node -p 'require("playwright-core/package.json").version')"
echo "  $(.autobahn-venv/bin/wstest --autobahnversion 2>&1 | paste -sd' ')"
