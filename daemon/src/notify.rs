//! systemd readiness protocol: READY=1, STATUS=, STOPPING=1 and watchdog pings.
//!
//! Owns every datagram sent to `NOTIFY_SOCKET`. Invariants: READY=1 is sent once, only
//! after the caller has verified that the mount answers and the listeners accept; nothing
//! is sent when `NOTIFY_SOCKET` is unset (so running by hand is silent). Failures to notify
//! are logged, never fatal: a daemon that serves is better than one that exits because the
//! service manager went away.

use std::time::Duration;

use sd_notify::NotifyState;

/// Sends `states` to the service manager, if any.
fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "could not notify the service manager");
    }
}

/// Everything is up: READY=1 with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A human-readable status line (`systemctl status` shows it).
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Shutdown has begun.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// Configuration reload begins (SIGHUP); `reloaded` must follow.
pub fn reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Configuration reload finished.
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// One watchdog ping.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// The interval at which to ping the watchdog (half of `WATCHDOG_USEC`), when it is enabled
/// for this process. Like `sd_watchdog_enabled(3)`, an absent `WATCHDOG_PID` means "this
/// process"; a different one means the variables were inherited and are not ours.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The environment is process-wide; this is the only test in the crate that touches
    // the WATCHDOG_* variables.
    #[test]
    fn watchdog_interval_is_half_of_watchdog_usec_and_respects_the_pid() {
        std::env::remove_var("WATCHDOG_PID");
        std::env::set_var("WATCHDOG_USEC", "2000000");
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(1)));
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(1)));
        std::env::set_var("WATCHDOG_PID", "1");
        assert_eq!(watchdog_interval(), None);
        std::env::remove_var("WATCHDOG_PID");
        std::env::remove_var("WATCHDOG_USEC");
        assert_eq!(watchdog_interval(), None);
    }
}
