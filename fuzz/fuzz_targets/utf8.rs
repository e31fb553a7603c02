#![no_main]
//! Fuzz target `utf8`: see `checks::utf8` in fuzz/checks.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wisp_codec_fuzz::utf8(data));
