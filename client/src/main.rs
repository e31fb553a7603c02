//! The `wisp-client` binary.
fn main() {}
