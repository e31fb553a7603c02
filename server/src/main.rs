//! The `wisp-server` binary.
fn main() {}
