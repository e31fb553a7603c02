#![no_main]
//! Fuzz target `frame_roundtrip`: see `checks::frame_roundtrip` in fuzz/checks.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wisp_codec_fuzz::frame_roundtrip(data));
