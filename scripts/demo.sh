#!/usr/bin/env bash
# The main job: build the wasm codec and the demo page, then start wisp-server with it.
#   bash scripts/demo.sh [extra wisp-server flags]
#   DEMO_LISTEN=127.0.0.1:0 bash scripts/demo.sh   (another address; port 0 = any free one)
# First installs what the demo needs and is missing (`scripts/setup.sh demo`: the wasm32
# target and wasm-bindgen-cli, nothing else). Open the URL it prints. Honours
# CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
LISTEN="${DEMO_LISTEN:-127.0.0.1:9001}"
bash scripts/setup.sh demo
bash scripts/build-web.sh
cargo build --release -p wisp-server
if [ "${LISTEN##*:}" = 0 ]; then
  echo "demo: open the address that wisp-server prints next (or web/index.html straight from disk)"
else
  echo "demo: open http://$LISTEN/ (or web/index.html straight from disk)"
fi
exec "${CARGO_TARGET_DIR:-target}/release/wisp-server" --listen "$LISTEN" --web web "$@"
