//! `fjord topic describe | head` and friends: when the reader of stdout
//! goes away, a command stops quietly, as Unix tools do, instead of
//! panicking in `println!` (Rust ignores SIGPIPE, so the write fails with
//! EPIPE and the print macros panic on it).
//!
//! Only for the commands whose output is for a reader: the servers (`fjord
//! serve`, `fjord auction up`, ...) keep SIGPIPE ignored, so a closed pipe
//! is an error they handle, never their end. Sockets are not concerned:
//! Rust's and librdkafka's socket writes pass MSG_NOSIGNAL.
#![allow(unsafe_code)]

/// Restores the default action of SIGPIPE (end the process).
pub fn die_quietly_on_closed_stdout() {
    // SAFETY: signal(2) with SIG_DFL installs no handler code of ours; it
    // runs before any thread is started, and nothing else in the process
    // relies on SIGPIPE being ignored for pipes (see the module doc).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
