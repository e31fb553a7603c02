//! The wasm API (`wisp_codec::wasm`, feature `wasm`) tested in Node:
//! `wasm-pack test --node codec --features wasm` (or `scripts/test-wasm.sh`).
//!
//! The cases live in `wasm_cases/` and run again in headless Chrome from
//! `web_browser.rs`.
#![cfg(all(target_arch = "wasm32", feature = "wasm"))]

mod wasm_cases;
