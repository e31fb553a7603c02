#![no_main]
//! Fuzz target `extension`: see `checks::extension` in fuzz/checks.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wisp_codec_fuzz::extension(data));
