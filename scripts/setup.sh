#!/usr/bin/env bash
# Installs what a Wisp command needs beyond the Rust toolchain, and nothing more.
#
#   bash scripts/setup.sh demo   what scripts/demo.sh needs:
#       - rustup target wasm32-unknown-unknown
#       - wasm-bindgen-cli, at the version wasm/Cargo.toml pins for the wasm-bindgen crate
#   bash scripts/setup.sh test   what scripts/test.sh needs (the default): the demo's, and
#       - rustup target thumbv7em-none-eabihf (the codec's no_std build)
#       - wasm-pack (the wasm tests)
#       - Debian's chromium, chromium-driver (browser tests), tshark (the page's pcap export,
#         read back; wireshark-common's question is answered: no setuid dumpcap), curl (scripts/test-standalone.sh)
#         and gcc (Autobahn's wsaccel), redis-server and nginx (the cluster tests and
#         scripts/cluster.sh), tinyproxy (the client's HTTP CONNECT tests; nothing starts
#         these: the tests run their own), those that are missing
#       - .venv: Python with `websockets` (interop peers), `pproxy` (the client's SOCKS5
#         tests), and `hypercorn` with `h2` and `wsproto` (the RFC 8441 peers)
#         (tests/peers/requirements.txt)
#       - node_modules: `ws` and `playwright-core` (package-lock.json; no browser download)
#       - .autobahn-venv: Autobahn|Testsuite's wstest (scripts/install-autobahn.sh)
#
# Works from any directory, in the checkout it belongs to. Idempotent: each step checks
# first and skips what is there, so a second run takes a few seconds. One line per step;
# an install's own output goes to a log that is shown only if it fails.
#
# Expects what this kind of machine comes with: rustup, python3 (3.8+) and node 20+ with
# npm. Installing reaches crates.io, and for `test` also PyPI, Debian and npm; apt-get
# needs root (or sudo) and runs `apt-get update` once before its first install.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PROFILE="${1:-test}"
case "$PROFILE" in
  demo) TARGETS=(wasm32-unknown-unknown) ;;
  test) TARGETS=(wasm32-unknown-unknown thumbv7em-none-eabihf) ;;
  *) echo "usage: bash scripts/setup.sh [demo|test]   (default: test)" >&2; exit 2 ;;
esac
WASM_PACK_VERSION=0.15.1
# command (or path) that must exist, and the Debian package that provides it
DEBIAN=(/usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver tshark:tshark curl:curl
        gcc:gcc redis-server:redis-server /usr/sbin/nginx:nginx /usr/bin/tinyproxy:tinyproxy
        /usr/lib/nginx/modules/ngx_stream_module.so:libnginx-mod-stream
        /usr/sbin/haproxy:haproxy /usr/bin/prometheus:prometheus)

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
fail() { echo "FAILED"; echo "setup: $STEP_NAME: $*" >&2; exit 1; }

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

if [ "$PROFILE" = demo ]; then
  echo "setup: versions: $(rustc --version); $(wasm-bindgen --version)"
  exit 0
fi

# --- wasm-pack ------------------------------------------------------------------
begin "wasm-pack"
if command -v wasm-pack >/dev/null 2>&1; then
  echo "present"
else
  run cargo install wasm-pack --version "$WASM_PACK_VERSION"
  installed
fi

# --- Debian packages ------------------------------------------------------------
begin "debian packages (chromium, chromium-driver, tshark, curl, gcc, redis-server, nginx + its stream module, tinyproxy, haproxy, prometheus)"
packages=()
for pair in "${DEBIAN[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -e "${pair%%:*}" ] || packages+=("${pair#*:}")
done
if [ ${#packages[@]} -eq 0 ]; then
  echo "present"
else
  command -v apt-get >/dev/null 2>&1 || fail "apt-get not found; install: ${packages[*]}"
  run $SUDO apt-get update -q
  export WISP_APT_UPDATED=1
  # tshark pulls in wireshark-common, which asks whether non-root users may capture
  # (a setuid dumpcap); reading a file needs no capture rights, so the answer is no.
  if [[ " ${packages[*]} " == *" tshark "* ]]; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" |
      run $SUDO debconf-set-selections
  fi
  run $SUDO apt-get install -y -q "${packages[@]}"
  installed
fi

# --- Python venv with websockets, hypercorn and h2 (interop peers) ---------------
WEBSOCKETS_VERSION="$(sed -n 's/^websockets==//p' tests/peers/requirements.txt)"
PPROXY_VERSION="$(sed -n 's/^pproxy==//p' tests/peers/requirements.txt)"
HYPERCORN_VERSION="$(sed -n 's/^hypercorn==//p' tests/peers/requirements.txt)"
begin "python .venv (websockets $WEBSOCKETS_VERSION, pproxy $PPROXY_VERSION, hypercorn $HYPERCORN_VERSION)"
if .venv/bin/python -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null &&
   .venv/bin/python -c "import sys, importlib.metadata as m, h2, wsproto; sys.exit(m.version('hypercorn') != '$HYPERCORN_VERSION')" 2>/dev/null &&
   [ "$(.venv/bin/pproxy --version 2>/dev/null)" = "pproxy $PPROXY_VERSION" ]; then
  echo "present"
else
  command -v python3 >/dev/null 2>&1 || fail "python3 not found"
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
  command -v npm >/dev/null 2>&1 || fail "npm not found (node 20+ with npm is needed)"
  run npm ci --no-audit --no-fund
  installed
fi

# --- Autobahn|Testsuite ---------------------------------------------------------
begin "autobahn .autobahn-venv"
if bash scripts/install-autobahn.sh --check .autobahn-venv; then
  echo "present"
else
  run bash scripts/install-autobahn.sh .autobahn-venv
  installed
fi

# --- versions -------------------------------------------------------------------
echo "setup: versions:"
echo "  $(rustc --version); targets: $(rustup target list --installed | paste -sd' ')"
echo "  $(/usr/bin/chromium --version 2>/dev/null); $(/usr/bin/chromedriver --version | cut -d' ' -f1-2); $(tshark --version | head -n1)"
echo "  $(wasm-bindgen --version); $(wasm-pack --version)"
echo "  $(.venv/bin/python --version), websockets $(.venv/bin/python -c 'import websockets; print(websockets.__version__)')"
echo "  $(tinyproxy -v); $(.venv/bin/pproxy --version)"
echo "  node $(node --version), ws $(node -p 'require("ws/package.json").version'), playwright-core $(node -p 'require("playwright-core/package.json").version')"
echo "  $(.autobahn-venv/bin/wstest --autobahnversion 2>&1 | paste -sd' ')"
