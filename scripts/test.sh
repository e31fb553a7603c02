#!/usr/bin/env bash
# Runs every test of Wisp: the one command of the README, and what CI runs.
#   bash scripts/test.sh
# Installs what is missing first (`scripts/setup.sh test`, idempotent), then: format,
# lints, docs, the no_std build, every Rust test (codec, server, client, interop with
# Python websockets and Node ws, browser tests in Chromium, Autobahn), the wasm tests in
# Node and headless Chrome, and last the demo built from a lone copy of the committed
# tree (scripts/test-standalone.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

step() { printf '\n=== %s\n' "$*"; STEP_T=$SECONDS; }
done_step() { echo "--- ok ($((SECONDS - STEP_T)) s)"; }

step "setup"
bash scripts/setup.sh test
done_step

step "cargo fmt --check"
cargo fmt --all --check
done_step

step "clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
done_step

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
done_step

step "cargo publish --dry-run --workspace (package and verify every publishable crate)"
# --workspace verifies the server, the client and wisp-tokio against the packaged codec through a
# local registry, so no crate needs to be on crates.io first. Cargo takes a registry
# crate of the same name and version as unchanged, so what an earlier run unpacked
# (cargo's registry/src/-HASH/ directories of local registries) and compiled would be
# verified against instead of this tree: both go first.
rm -rf target/publish-check "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/wisp-*
CARGO_TARGET_DIR=target/publish-check cargo publish --dry-run --workspace --allow-dirty -q
rm -rf target/publish-check
done_step

step "no_std build of the codec (thumbv7em-none-eabihf)"
cargo build -p wisp-codec --no-default-features --target thumbv7em-none-eabihf
done_step

if [ -f scripts/build-web.sh ]; then
  step "build the wasm codec and the demo page"
  bash scripts/build-web.sh
  done_step
fi

step "build binaries"
cargo build --workspace --bins
done_step

step "cargo test --workspace"
cargo test --workspace
done_step

step "WebSockets over HTTP/2 (wisp-tokio feature http2)"
# The echo example built with the feature serves h2c too; its test starts it, and runs
# target/debug/wisp-client --http2 (built above) against it, Hypercorn and wisp-server.
cargo build -p wisp-tokio --features http2 --examples
cargo test -p wisp-tokio --features http2 --test http2
# The page example: the teaching page over HTTPS/h2 in Chromium (web/pkg built above).
cargo test -p wisp-tokio --features http2 --test page_h2
done_step

# The suites that exercise the server's IO engine ran above on the default, epoll; they
# run once more on io_uring where the kernel allows it: the attacks, budgets, 19,000 idle
# connections, routes, bad input, the fuzz corpus and TLS, as black boxes through
# WISP_TEST_IO (the harness's servers and the fuzz replay's in-process one read it).
engine_log=$(RUST_LOG=info timeout 2 target/debug/wisp-server --io auto --listen 127.0.0.1:0 2>&1 || true)
if grep -q 'IO engine: io_uring' <<<"$engine_log"; then
  step "the engine-specific tests again on --io uring (the run above was on epoll)"
  WISP_TEST_IO=uring cargo test -p wisp-tests --test attacks --test budgets --test scale \
    --test server_routes --test server_bad_input --test server_fuzz_corpus --test tls
  done_step
else
  echo "note: io_uring is not available here: the suites above ran on epoll only"
  grep 'IO engine' <<<"$engine_log" || true
fi

if [ -f scripts/test-wasm.sh ]; then
  step "wasm tests (Node and headless Chrome)"
  bash scripts/test-wasm.sh
  done_step
fi

step "the committed tree alone: demo setup, build and serve (scripts/test-standalone.sh)"
bash scripts/test-standalone.sh
done_step

echo
echo "all tests passed ($SECONDS s)"
