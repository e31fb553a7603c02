//! The `wisp-server` binary: see `wisp-server --help`.
fn main() {
    std::process::exit(wisp_server::main_with_args(std::env::args().skip(1)));
}
