#![no_main]
//! Fuzz target `handshake`: see `checks::handshake` in fuzz/checks.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wisp_codec_fuzz::handshake(data));
