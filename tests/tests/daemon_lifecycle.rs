//! The daemon's life through a real mount: start, stop, crash and restart, reload, status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nix::sys::signal::Signal;
use weka_e2e::{wait_for, Daemon, DaemonOptions};

#[test]
fn sigterm_unmounts_removes_endpoints_and_exits_zero() {
    let daemon = Daemon::start();
    std::fs::write(daemon.mount().join("hello.txt"), b"hello").unwrap();
    assert_eq!(
        std::fs::read(daemon.data().join("hello.txt")).unwrap(),
        b"hello"
    );
    let (mount, endpoints) = (daemon.mount(), daemon.state().join("endpoints.json"));
    let stderr_path = daemon.stderr_path();
    let status = daemon.stop();
    assert!(
        status.success(),
        "exit status {status}: {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    assert!(!weka_e2e::is_mounted(&mount));
    assert!(!endpoints.exists());
    // A clean stop is not an error in the journal.
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    assert!(
        !stderr.contains("ERROR"),
        "clean stop logged an error:\n{stderr}"
    );
}

#[test]
fn sigkill_leaves_a_stale_mount_that_the_next_start_clears_without_help() {
    let mut daemon = Daemon::start();
    std::fs::write(daemon.mount().join("survivor.txt"), b"still here").unwrap();
    daemon.kill9();
    // statfs always reaches the (dead) daemon; stat may be answered from the attr cache.
    // ENOTCONN, or ECONNABORTED/ECANCELED while the kernel still ends the daemon's io_uring
    // queues (the daemon's own stale-mount check accepts the same three).
    let err = nix::sys::statfs::statfs(&daemon.mount()).unwrap_err();
    assert!(
        matches!(
            err,
            nix::errno::Errno::ENOTCONN
                | nix::errno::Errno::ECONNABORTED
                | nix::errno::Errno::ECANCELED
        ),
        "a killed daemon leaves a stale mount, got {err}"
    );
    daemon.restart();
    assert_eq!(
        std::fs::read(daemon.mount().join("survivor.txt")).unwrap(),
        b"still here"
    );
    assert!(
        daemon.stderr().contains("stale mount"),
        "{}",
        daemon.stderr()
    );
    // The first start's admin still works: state survived the crash.
    let (ak, _) = daemon.admin_keys();
    assert_eq!(ak, "admin");
}

#[test]
fn sigint_stops_like_sigterm() {
    let mut daemon = Daemon::start();
    daemon.signal(Signal::SIGINT);
    let status = daemon
        .wait_exit(Duration::from_secs(60))
        .expect("wekad exits on SIGINT");
    assert!(status.success(), "{status}");
    assert!(!daemon.is_mounted());
}

#[test]
fn the_first_start_prints_the_admin_credentials_once() {
    let mut daemon = Daemon::start();
    let (ak, sk) = daemon.admin_keys();
    assert_eq!(ak, "admin");
    assert!(daemon
        .stdout()
        .contains(&format!("AWS_SECRET_ACCESS_KEY={sk}")));
    assert!(
        !daemon.stderr().contains(&sk),
        "the secret must not reach the log"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(daemon.state().join("initial-credentials"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    daemon.restart();
    assert_eq!(
        daemon.stdout().matches("AWS_SECRET_ACCESS_KEY=").count(),
        1,
        "printed once"
    );
}

#[test]
fn sighup_reloads_what_it_can_and_names_what_needs_a_restart() {
    let mut daemon = Daemon::start_with(
        // RUST_LOG would pin the filter; leave the level to the configuration.
        DaemonOptions::default()
            .config("log_level = \"info\"\n")
            .env("RUST_LOG", ""),
    );
    std::fs::write(
        daemon.config_path(),
        "log_level = \"debug\"\n[s3]\nsync = \"never\"\nanonymous_uid = 1234\n",
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    let reloaded = wait_for(Duration::from_secs(10), || {
        daemon.stderr().contains("S3 settings reloaded")
    });
    let stderr = daemon.stderr();
    assert!(reloaded, "{stderr}");
    assert!(stderr.contains("log level reloaded"), "{stderr}");
    assert!(
        stderr.contains("s3.sync changed but cannot be reloaded"),
        "{stderr}"
    );

    // An invalid file is refused and the daemon keeps serving.
    std::fs::write(daemon.config_path(), "log_levl = \"debug\"\n").unwrap();
    daemon.signal(Signal::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(10), || daemon
            .stderr()
            .contains("reload refused")),
        "{}",
        daemon.stderr()
    );
    assert!(daemon.stderr().contains("log_levl"));
    std::fs::write(daemon.mount().join("after-reload"), b"ok").unwrap();
    assert!(
        daemon.wait_exit(Duration::from_millis(100)).is_none(),
        "still running"
    );
}

#[test]
fn weka_status_reports_paths_mount_endpoints_and_counts() {
    let daemon = Daemon::start();
    std::fs::create_dir(daemon.mount().join("bucket-one")).unwrap();
    let out = daemon.weka(&["status", "-J"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["mount"], daemon.mount().to_str().unwrap());
    assert_eq!(status["data"], daemon.data().to_str().unwrap());
    assert_eq!(status["mounted"], true);
    assert_eq!(
        status["s3_endpoint"],
        format!("http://{}", daemon.s3_addr())
    );
    assert_eq!(status["metrics_endpoint"], daemon.metrics_addr());
    assert_eq!(status["users"], 1);
    assert_eq!(status["buckets"], 1);
    assert!(status["policies"].as_u64().unwrap() >= 3, "the built-ins");
    assert!(status["version"].as_str().unwrap().starts_with("0."));
    assert!(status["counters"]["fuse_operations"].as_u64().unwrap() > 0);
}

#[test]
fn a_file_held_open_past_the_drain_deadline_is_cut_and_the_mount_detached_lazily() {
    let mut daemon =
        Daemon::start_with(DaemonOptions::default().config("drain_deadline = \"1s\"\n"));
    std::fs::write(daemon.mount().join("held"), b"x").unwrap();
    let held = std::fs::File::open(daemon.mount().join("held")).unwrap();
    daemon.signal(Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(30))
        .expect("wekad exits after the deadline");
    let stderr = daemon.stderr();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("waiting for files open on the mount"),
        "{stderr}"
    );
    assert!(stderr.contains("drain deadline passed"), "{stderr}");
    assert!(
        stderr.contains("lazily"),
        "the log says the unmount was lazy: {stderr}"
    );
    assert!(!daemon.is_mounted());
    drop(held);
}

#[test]
fn a_second_signal_during_the_drain_stops_at_once() {
    let mut daemon =
        Daemon::start_with(DaemonOptions::default().config("drain_deadline = \"120s\"\n"));
    std::fs::write(daemon.mount().join("held"), b"x").unwrap();
    let held = std::fs::File::open(daemon.mount().join("held")).unwrap();
    daemon.signal(Signal::SIGTERM);
    assert!(
        wait_for(Duration::from_secs(30), || daemon
            .stderr()
            .contains("waiting for files open")),
        "{}",
        daemon.stderr()
    );
    daemon.signal(Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(10))
        .expect("a second signal stops at once");
    assert_eq!(status.code(), Some(1), "{}", daemon.stderr());
    assert!(
        daemon.stderr().contains("second stop signal"),
        "{}",
        daemon.stderr()
    );
    assert!(!daemon.is_mounted(), "detached lazily");
    drop(held);
}

#[test]
fn sighup_changes_the_owner_of_what_anonymous_requests_create() {
    use std::os::unix::fs::MetadataExt;
    let daemon = Daemon::start_with(
        DaemonOptions::default().config("[s3]\nanonymous_uid = 4001\nanonymous_gid = 4002\n"),
    );
    let out = daemon.weka(&["s3", "bucket", "create", "drop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = daemon.weka(&["s3", "bucket", "policy", "set", "drop", "upload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = daemon.s3_addr();
    let (status, body) = weka_e2e::http(&addr, "PUT", "/drop/before", b"1");
    assert_eq!(status, 200, "{body}");
    let before = std::fs::metadata(daemon.mount().join("drop/before")).unwrap();
    assert_eq!((before.uid(), before.gid()), (4001, 4002));

    std::fs::write(
        daemon.config_path(),
        "[s3]\nanonymous_uid = 5001\nanonymous_gid = 5002\n",
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(10), || daemon
            .stderr()
            .contains("S3 settings reloaded")),
        "{}",
        daemon.stderr()
    );
    let (status, body) = weka_e2e::http(&addr, "PUT", "/drop/after", b"2");
    assert_eq!(status, 200, "{body}");
    let after = std::fs::metadata(daemon.mount().join("drop/after")).unwrap();
    assert_eq!((after.uid(), after.gid()), (5001, 5002));
}

#[test]
fn a_restart_right_after_sigkill_clears_the_stale_mount_even_with_warm_attribute_caches() {
    let mut daemon = Daemon::start();
    for _ in 0..3 {
        // Warm the kernel's attribute cache of the mount root, then crash and restart at once.
        let _ = std::fs::metadata(daemon.mount()).unwrap();
        daemon.kill9();
        daemon.restart();
        assert!(std::fs::read_dir(daemon.mount()).is_ok());
    }
    assert_eq!(
        daemon.stderr().matches("found a stale mount").count(),
        3,
        "{}",
        daemon.stderr()
    );
}
