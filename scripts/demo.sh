#!/usr/bin/env bash
# The main job: build the wasm codec and the demo page, then start wisp-server with it.
#   bash scripts/demo.sh [extra wisp-server flags]
# Installs what is missing first (scripts/setup.sh). Open the URL it prints.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash scripts/setup.sh
if [ -f scripts/build-web.sh ]; then bash scripts/build-web.sh; fi
cargo build --release -p wisp-server
echo "demo: open http://127.0.0.1:9001/ (or web/index.html straight from disk)"
exec target/release/wisp-server --listen 127.0.0.1:9001 --web web "$@"
