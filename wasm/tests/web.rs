//! The wasm API (`wisp-wasm`) tested in Node:
//! `wasm-pack test --node wasm --test web` (or `scripts/test-wasm.sh`).
//!
//! The cases live in `wasm_cases/` and run again in headless Chrome from
//! `web_browser.rs`.
#![cfg(target_arch = "wasm32")]

mod wasm_cases;
