# Sourced by every script here: the repository root as the working directory, cargo's
# bin directory on PATH, and the wasm-bindgen version, read from wasm/Cargo.toml (the
# CLI must equal the crate's `=` pin exactly).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = { version = "=\([^"]*\)".*/\1/p' wasm/Cargo.toml)"
if [ -z "$WASM_BINDGEN_VERSION" ]; then
  echo "scripts/env.sh: no 'wasm-bindgen = { version = \"=X.Y.Z\" ... }' pin in wasm/Cargo.toml" >&2
  exit 1
fi
