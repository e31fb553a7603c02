#![no_main]
//! Fuzz target `decoder_connection`: see `checks::decoder_connection` in fuzz/checks.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| wisp_codec_fuzz::decoder_connection(data));
