//! Test-only crash points: `WEKAD_TEST_CRASH_AT=<name>` kills the process at the named point.
//!
//! Owns the few named places where a crash test needs to stop the daemon at an exact
//! moment rather than at a random one (the windows are too short to hit by timing). The
//! points are compiled into every build but inert unless the variable names one of them:
//! the variable is read once, and an unset variable costs one comparison per point.
//!
//! Invariant: reaching the named point sends the process SIGKILL (the same death as
//! `kill -9`: no destructors, no flush, no unmount), after one line on stderr saying
//! which point fired. Production deployments never set the variable; it is documented
//! as test-only in docs/SEMANTICS.md ("Crash consistency").
//!
//! This module must not be used for anything but crash tests: a point is a promise that
//! the state on disk at that instant is one the next start recovers from.

use std::sync::OnceLock;

/// The environment variable naming the crash point to fire.
pub const CRASH_AT_ENV: &str = "WEKAD_TEST_CRASH_AT";

/// Kills the process with SIGKILL when `WEKAD_TEST_CRASH_AT` is `name`; otherwise nothing.
pub fn crash_point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let armed = AT.get_or_init(|| std::env::var(CRASH_AT_ENV).ok());
    if armed.as_deref() == Some(name) {
        eprintln!("wekad: {CRASH_AT_ENV}={name}: killing the process (test-only crash point)");
        // SIGKILL to ourselves cannot fail for a live process; should it, abort is the
        // next closest thing to a crash.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        std::process::abort();
    }
}
