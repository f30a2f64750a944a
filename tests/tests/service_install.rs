//! The installer stages the binaries, the unit and the config under a DESTDIR and the
//! uninstaller removes them; the unit passes `systemd-analyze verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use weka_e2e::{profile_dir, weka_bin, wekad_bin, workspace_root};

fn script(name: &str) -> std::path::PathBuf {
    workspace_root().join("systemd").join(name)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

#[test]
fn install_into_a_destdir_writes_binaries_unit_and_config_and_uninstall_removes_them() {
    // Make sure both binaries exist before the installer looks for them.
    let (_, _) = (wekad_bin(), weka_bin());
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let out = run(Command::new(script("install.sh"))
        .arg("--destdir")
        .arg(d)
        .arg("--bin-dir")
        .arg(profile_dir()));
    assert!(out.contains("systemctl enable --now wekad"), "{out}");
    assert_eq!(mode(&d.join("usr/local/bin/wekad")), 0o755);
    assert_eq!(mode(&d.join("usr/local/bin/weka")), 0o755);
    assert_eq!(
        std::fs::read(d.join("usr/local/bin/wekad")).unwrap(),
        std::fs::read(wekad_bin()).unwrap()
    );
    let unit = std::fs::read_to_string(d.join("etc/systemd/system/wekad.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/wekad --config /etc/wekad/wekad.toml"));
    assert!(unit.contains("Type=notify") && unit.contains("RestartPreventExitStatus=78"));
    assert_eq!(mode(&d.join("etc/wekad/wekad.toml")), 0o640);
    assert!(d.join("srv/wekad/data").is_dir() && d.join("srv/wekad/mnt").is_dir());
    assert!(d.join("usr/local/share/doc/wekad/README.md").is_file());
    assert!(
        std::fs::read_to_string(d.join("etc/modprobe.d/wekad-fuse.conf"))
            .unwrap()
            .lines()
            .any(|l| l == "options fuse enable_uring=1"),
        "the installer lets FUSE daemons use io_uring"
    );
    assert!(d
        .join("usr/local/share/doc/wekad/wekad-confined.conf")
        .is_file());
    // No mount namespace in the unit itself: it would hide the FUSE mount from the host.
    for hidden in [
        "ProtectSystem=",
        "PrivateTmp=",
        "ProtectHome=",
        "ReadWritePaths=",
    ] {
        assert!(
            !unit.lines().any(|l| l.starts_with(hidden)),
            "{hidden} in the unit"
        );
    }

    // A second install keeps an edited configuration.
    std::fs::write(d.join("etc/wekad/wekad.toml"), "log_level = \"debug\"\n").unwrap();
    let out = run(Command::new(script("install.sh"))
        .env("DESTDIR", d)
        .arg("--bin-dir")
        .arg(profile_dir()));
    assert!(out.contains("kept existing"), "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("etc/wekad/wekad.toml")).unwrap(),
        "log_level = \"debug\"\n"
    );

    run(Command::new(script("uninstall.sh")).arg("--destdir").arg(d));
    assert!(!d.join("usr/local/bin/wekad").exists() && !d.join("usr/local/bin/weka").exists());
    assert!(!d.join("etc/systemd/system/wekad.service").exists());
    assert!(!d.join("etc/modprobe.d/wekad-fuse.conf").exists());
    assert!(
        d.join("etc/wekad/wekad.toml").exists(),
        "plain uninstall keeps the configuration"
    );

    std::fs::write(d.join("srv/wekad/data/file"), b"data").unwrap();
    run(Command::new(script("uninstall.sh"))
        .arg("--destdir")
        .arg(d)
        .arg("--purge"));
    assert!(!d.join("etc/wekad").exists());
    assert_eq!(
        std::fs::read(d.join("srv/wekad/data/file")).unwrap(),
        b"data",
        "purge never removes data"
    );
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("systemd-analyze is missing: apt-get install -y systemd");
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(script("wekad.service")).unwrap();
    // verify insists that ExecStart exists: point it at the fresh build.
    let unit = unit.replace("/usr/local/bin/wekad", wekad_bin().to_str().unwrap());
    let path = dir.path().join("wekad.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "warnings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_unit_with_the_confining_drop_in_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(script("wekad.service")).unwrap();
    let mut unit = unit.replace("/usr/local/bin/wekad", wekad_bin().to_str().unwrap());
    // Appended, the drop-in's [Service] section merges into the unit's.
    unit.push_str(&std::fs::read_to_string(script("wekad-confined.conf")).unwrap());
    let path = dir.path().join("wekad.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
}
