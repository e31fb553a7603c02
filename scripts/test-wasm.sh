#!/usr/bin/env bash
# Runs the wasm API's tests twice, in Node and in headless Chromium, and checks that each
# run passed exactly the tests it should: `wasm-pack test --headless --chrome` exits 0
# having run nothing when no test is configured for a browser, so exit codes alone
# prove nothing.
#
#   Node:   wasm/tests/web.rs          = the cases of wasm/tests/wasm_cases/
#   Chrome: wasm/tests/web_browser.rs  = the same cases + browser-only ones
#
# usage: scripts/test-wasm.sh      (needs scripts/setup.sh: wasm32 target, wasm-pack,
#                                   wasm-bindgen-cli as pinned in wasm/Cargo.toml, chromium + chromedriver)
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

die() { echo "test-wasm: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: run scripts/setup.sh"; }
need wasm-pack
need wasm-bindgen
need wasm-bindgen-test-runner
[ "$(wasm-bindgen --version)" = "wasm-bindgen $WASM_BINDGEN_VERSION" ] ||
  die "wasm-bindgen $WASM_BINDGEN_VERSION needed, found '$(wasm-bindgen --version)': run scripts/setup.sh"
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
  die "the wasm32-unknown-unknown target is missing: run scripts/setup.sh"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
[ -x "$CHROMEDRIVER" ] || die "chromedriver not found at $CHROMEDRIVER: run scripts/setup.sh"
export CHROMEDRIVER

count() { cat "$@" | grep -c '#\[wasm_bindgen_test\]'; }
CASES=wasm/tests/wasm_cases/mod.rs

# run NAME EXPECTED wasm-pack-args...: runs, shows the summary, checks the count.
run() {
  local name=$1 expected=$2; shift 2
  local log start=$SECONDS
  log="$(mktemp)"
  if ! wasm-pack --log-level warn test --mode no-install "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "$name: wasm-pack test failed"
  fi
  local summary
  summary="$(grep -E '^test result:' "$log" || true)"
  rm -f "$log"
  [ -n "$summary" ] || die "$name: no test ran (is the file configured for this runner?)"
  local passed failed
  passed="$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$summary")"
  failed="$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$summary")"
  [ "$failed" = 0 ] || die "$name: $failed failed"
  [ "$passed" = "$expected" ] || die "$name: $passed passed, expected $expected"
  echo "test-wasm: $name: $passed passed ($((SECONDS - start)) s)"
}

run "node" "$(count $CASES wasm/tests/web.rs)" \
  --node wasm --test web
run "chrome" "$(count $CASES wasm/tests/web_browser.rs)" \
  --headless --chrome wasm --test web_browser
