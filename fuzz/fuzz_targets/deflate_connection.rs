#![no_main]
//! Fuzz target `deflate_connection`: see `checks::deflate_connection` in fuzz/checks.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wisp_codec_fuzz::deflate_connection(data));
