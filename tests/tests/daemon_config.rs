//! wekad refuses invalid configuration with exit status 78 and names file, line and key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use weka_e2e::wekad_bin;

/// Runs wekad with `toml` as its configuration; returns (exit code, stderr).
fn run_with_config(toml: &str) -> (Option<i32>, String, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wekad.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(wekad_bin())
        .arg("--config")
        .arg(&path)
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--mount")
        .arg(dir.path().join("mnt"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path,
        dir,
    )
}

#[test]
fn a_typoed_key_exits_78_naming_file_line_and_key() {
    let (code, stderr, path, _dir) = run_with_config(
        "log_level = \"info\"\n\n[s3]\nlisten = \"127.0.0.1:0\"\nanonymus_uid = 1000\n",
    );
    assert_eq!(code, Some(78), "{stderr}");
    let expected = format!(
        "{}:5: key `s3.anonymus_uid`: unknown field `anonymus_uid`",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn an_invalid_value_exits_78_naming_file_line_and_key() {
    let (code, stderr, path, _dir) =
        run_with_config("[metrics]\nlisten = \"127.0.0.1:notaport\"\n");
    assert_eq!(code, Some(78), "{stderr}");
    let expected = format!("{}:2: key `metrics.listen`", path.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn an_invalid_enum_value_lists_the_accepted_ones() {
    let (code, stderr, _path, _dir) = run_with_config("[s3]\nsync = \"sometimes\"\n");
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("key `s3.sync`") && stderr.contains("always"),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_exits_78() {
    let out = Command::new(wekad_bin())
        .args(["--config", "/nonexistent/wekad.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/wekad.toml"));
}

#[test]
fn an_invalid_listen_flag_exits_78() {
    let out = Command::new(wekad_bin())
        .args(["--s3-listen", "here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--s3-listen"));
}

#[test]
fn the_shipped_example_configuration_with_every_option_uncommented_is_valid() {
    let toml =
        std::fs::read_to_string(weka_e2e::workspace_root().join("systemd/wekad.toml")).unwrap();
    let uncommented: Vec<&str> = toml.lines().map(uncomment_option).collect();
    let (code, stderr, _path, _dir) = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wekad.toml");
        std::fs::write(&path, uncommented.join("\n")).unwrap();
        // A missing FUSE device makes the daemon stop right after the configuration is
        // accepted, with status 1 (a failed check), not 78.
        let out = Command::new(wekad_bin())
            .arg("--config")
            .arg(&path)
            .env("WEKAD_FUSE_DEVICE", "/nonexistent/fuse")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            path,
            dir,
        )
    };
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/fuse is missing"), "{stderr}");
}

/// `# key = value` -> `key = value` (only for a bare key, not for prose comments).
fn uncomment_option(line: &str) -> &str {
    match line.strip_prefix("# ") {
        Some(rest)
            if rest
                .split_once(" = ")
                .is_some_and(|(k, _)| !k.is_empty() && !k.contains(' ')) =>
        {
            rest
        }
        _ => line,
    }
}
