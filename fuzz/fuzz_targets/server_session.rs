#![no_main]
//! Fuzz target `server_session`: arbitrary bytes after a valid handshake against a real
//! wisp-server in this process; see fuzz/server_checks.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = wisp_codec_fuzz::server_session(data) {
        panic!("server_session: {e}");
    }
});
