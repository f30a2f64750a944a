//! systemd's notify protocol, seen from a NOTIFY_SOCKET the test owns: READY=1 only once
//! the mount answers and the S3 port accepts, WATCHDOG=1 pings, STOPPING=1 on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use weka_e2e::{Daemon, DaemonOptions};

/// One datagram and what the world looked like when it arrived.
struct Seen {
    text: String,
    mounted: bool,
    s3_accepts: bool,
}

/// Receives datagrams until `stop`, probing the mount and S3 port on READY=1.
fn listen(sock: UnixDatagram, root: &Path, tx: mpsc::Sender<Seen>) {
    let (mount, endpoints) = (root.join("mnt"), root.join("state/endpoints.json"));
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let (mut mounted, mut s3_accepts) = (false, false);
        if text.lines().any(|l| l == "READY=1") {
            mounted = std::fs::metadata(&mount).is_ok() && weka_e2e::is_mounted(&mount);
            let addr = std::fs::read_to_string(&endpoints)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["s3"].as_str().map(str::to_string));
            s3_accepts = addr.is_some_and(|a| std::net::TcpStream::connect(a).is_ok());
        }
        if tx
            .send(Seen {
                text,
                mounted,
                s3_accepts,
            })
            .is_err()
        {
            return;
        }
    }
}

fn wait_line(rx: &mpsc::Receiver<Seen>, line: &str, timeout: Duration) -> Seen {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let seen = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {line} within {timeout:?}"));
        if seen.text.lines().any(|l| l == line) {
            return seen;
        }
    }
}

#[test]
fn ready_comes_after_mount_and_s3_then_watchdog_pings_then_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();
    let options = DaemonOptions::default()
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .no_wait();
    let mut daemon = Daemon::start_with(options);
    let root = daemon.root().to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || listen(sock, &root, tx));

    let ready = wait_line(&rx, "READY=1", Duration::from_secs(30));
    assert!(
        ready.mounted,
        "READY=1 before the mount answered: {}",
        ready.text
    );
    assert!(
        ready.s3_accepts,
        "READY=1 before the S3 port accepted: {}",
        ready.text
    );
    assert!(ready.text.contains("STATUS="), "{}", ready.text);
    for _ in 0..3 {
        wait_line(&rx, "WATCHDOG=1", Duration::from_secs(5));
    }

    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    wait_line(&rx, "STOPPING=1", Duration::from_secs(10));
    let status = daemon
        .wait_exit(Duration::from_secs(60))
        .expect("wekad exits after SIGTERM");
    assert!(status.success(), "{status}: {}", daemon.stderr());
}

#[test]
fn without_notify_socket_nothing_is_sent_and_the_daemon_runs() {
    let daemon = Daemon::start();
    assert!(daemon.is_mounted());
    assert!(!daemon.stderr().contains("could not notify"));
}
