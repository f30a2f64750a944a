//! The control socket from the outside: who may use it, what `weka` says when it cannot,
//! and that what it stored survives a restart and a SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use weka_e2e::{weka_bin, Daemon};

fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = d.weka(args);
    assert!(
        out.status.success(),
        "weka {args:?}: {}\n--- wekad ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.stderr()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_user_outside_the_admin_group_is_refused_with_exit_3_and_a_hint() {
    let d = Daemon::start();
    // Let uid 65534 reach the socket file, so the refusal is the daemon's SO_PEERCRED check.
    let mut dir = d.socket().parent().map(Path::to_path_buf);
    while let Some(p) = dir.filter(|p| p.starts_with(d.root())) {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir = p.parent().map(Path::to_path_buf);
    }
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(weka_bin())
        .arg("--socket")
        .arg(d.socket())
        .arg("user")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("permission denied") && stderr.contains("uid 65534"),
        "{stderr}"
    );
    assert!(
        stderr.contains("group") || stderr.contains("root"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn the_default_socket_mode_keeps_other_users_out() {
    let d = Daemon::start();
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o007, 0, "socket mode {mode:o} lets others connect");
}

#[test]
fn an_absent_daemon_is_exit_3_with_a_hint_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(weka_bin())
        .arg("--socket")
        .arg(dir.path().join("none.sock"))
        .arg("user")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("none.sock") && stderr.contains("wekad"),
        "{stderr}"
    );
    let env = Command::new(weka_bin())
        .env("WEKA_SOCKET", dir.path().join("env.sock"))
        .arg("status")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&env.stderr).contains("env.sock"),
        "WEKA_SOCKET is honoured"
    );
}

#[test]
fn usage_errors_are_exit_2_and_help_documents_exit_codes() {
    let help = Command::new(weka_bin()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    for line in [
        "0  success",
        "1  wekad answered with an error",
        "2  usage error",
        "3  wekad is unreachable",
    ] {
        assert!(text.contains(line), "{text}");
    }
    let bad = Command::new(weka_bin())
        .args(["user", "add"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn users_and_policies_survive_a_restart_and_a_sigkill() {
    let mut d = Daemon::start();
    let policy = d.root().join("p.json");
    std::fs::write(&policy, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::*"}]}"#).unwrap();
    ok(&d, &["user", "add", "dave", "s3", "Passw0rd!"]);
    ok(
        &d,
        &["s3", "policy", "create", "lister", policy.to_str().unwrap()],
    );
    ok(&d, &["s3", "policy", "attach", "lister", "dave"]);
    d.restart();
    let users = ok(
        &d,
        &[
            "user",
            "-f",
            "csv",
            "-o",
            "user,s3Policy",
            "--no-header",
            "-F",
            "user=dave",
        ],
    );
    assert_eq!(users, "dave,lister\n");

    ok(&d, &["user", "add", "erin", "s3", "Passw0rd!"]);
    d.kill9();
    d.restart();
    let users = ok(
        &d,
        &[
            "user",
            "-f",
            "csv",
            "-o",
            "user",
            "--no-header",
            "-s",
            "user",
        ],
    );
    assert_eq!(users, "admin\ndave\nerin\n");
    assert!(ok(&d, &["s3", "policy", "list", "-f", "csv"]).contains("lister"));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let d = Daemon::start();
    let mut child = Command::new(weka_bin())
        .arg("--socket")
        .arg(d.socket())
        .args(["s3", "policy", "show", "readwrite"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before weka writes, as `weka ... | head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
