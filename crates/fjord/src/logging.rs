//! Log output for every subcommand: to stderr, `info` by default, filtered
//! by FJORD_LOG or RUST_LOG (e.g. FJORD_LOG=debug). Colour only when
//! stderr is a terminal: escape codes in a log file or a pipe are noise.

use std::io::IsTerminal;

pub fn init() {
    init_with_default("info");
}

/// As `init`, logging at `level` unless FJORD_LOG or RUST_LOG say
/// otherwise (a tool whose output is its report logs warnings only).
pub fn init_with_default(level: &str) {
    let filter = std::env::var("FJORD_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| level.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
