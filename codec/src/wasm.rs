//! The browser demo's JavaScript API (feature `wasm`): thin `wasm-bindgen` bindings
//! over the codec with no logic of their own.
