//! The workspace's dependency hygiene, checked on every run (issue 13): no declared
//! dependency goes unused, and no crate of ours builds two versions of one dependency.
//!
//! This is the check `cargo machete` makes, done here so that it needs nothing installed:
//! a dependency counts as used when the crate's sources (src/, tests/, benches/,
//! examples/, build.rs) name it as a path (`name::`), import it (`use name`) or declare it
//! (`extern crate name`). A dependency needed only for a feature it turns on elsewhere
//! would be listed in the member's `[package.metadata.hygiene] feature-only`, with the
//! reason beside it; none is today.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A TOML file as a JSON value (tables are objects, arrays arrays).
fn read_toml(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml_edit::de::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file below `dir`, recursively (none when `dir` does not exist).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("readable directory").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The sources of one member, concatenated.
fn member_sources(member: &Path) -> String {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "examples"] {
        rust_files(&member.join(dir), &mut files);
    }
    let build = member.join("build.rs");
    if build.exists() {
        files.push(build);
    }
    files
        .iter()
        .map(|f| fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `source` names the crate `ident` the way Rust code uses a dependency.
fn names_crate(source: &str, ident: &str) -> bool {
    source.match_indices(ident).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| is_ident_char(c) || c == ':') {
            return false;
        }
        let after = &source[at + ident.len()..];
        let prefix = source[..at].trim_end();
        after.starts_with("::")
            || ((prefix.ends_with("use") || prefix.ends_with("extern crate"))
                && !after.starts_with(|c: char| is_ident_char(c)))
    })
}

/// `cargo metadata` of the workspace, resolved for this machine's target.
fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(format!("{}-unknown-linux-gnu", std::env::consts::ARCH))
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The `[package.metadata.hygiene] feature-only` list of a member: names before a `:`.
fn feature_only(package: &serde_json::Value) -> BTreeSet<String> {
    package["metadata"]["hygiene"]["feature-only"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .map(|s| s.split(':').next().unwrap_or(s).trim().to_owned())
        .collect()
}

#[test]
fn every_declared_dependency_is_used() {
    let meta = metadata();
    let packages = meta["packages"].as_array().expect("packages");
    let by_id = |id: &str| {
        packages
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("package {id}"))
    };
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|m| m.as_str().expect("id"))
        .collect();
    let mut unused = Vec::new();
    let mut declared_by_members = BTreeSet::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve") {
        let id = node["id"].as_str().expect("id");
        if !members.contains(&id) {
            continue;
        }
        let package = by_id(id);
        let manifest = Path::new(package["manifest_path"].as_str().expect("manifest"));
        let sources = member_sources(manifest.parent().expect("member dir"));
        let allowed = feature_only(package);
        for dep in node["deps"].as_array().expect("deps") {
            // `name` is what code imports: the dependency's key or rename, its library's name
            // (`md-5` is `md5`), dashes as underscores.
            let ident = dep["name"].as_str().expect("name");
            let dep_package = by_id(dep["pkg"].as_str().expect("pkg"))["name"]
                .as_str()
                .expect("name")
                .to_owned();
            declared_by_members.insert(dep_package.clone());
            if !allowed.contains(&dep_package) && !names_crate(&sources, ident) {
                unused.push(format!(
                    "{} declares {dep_package} (imported as `{ident}`)",
                    package["name"].as_str().expect("name")
                ));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "declared but never named in the crate's sources (remove them, or list a \
         feature-only dependency in [package.metadata.hygiene] feature-only with its reason):\n  {}",
        unused.join("\n  ")
    );
    let root = read_toml(&workspace_root().join("Cargo.toml"));
    let orphans: Vec<&String> = root["workspace"]["dependencies"]
        .as_object()
        .expect("workspace.dependencies")
        .keys()
        .filter(|name| !declared_by_members.contains(*name))
        .collect();
    assert!(
        orphans.is_empty(),
        "[workspace.dependencies] lists crates no member declares: {orphans:?}"
    );
}

#[test]
fn our_crates_build_one_version_of_each_dependency() {
    // In Cargo.lock a path package (ours, or vendored) has no `source`; its dependency
    // list spells `name version` only when several versions of `name` are locked.
    let lock = read_toml(&workspace_root().join("Cargo.lock"));
    let packages = lock["package"].as_array().expect("[[package]]");
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut locked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in packages {
        let name = p["name"].as_str().expect("name").to_owned();
        let version = p["version"].as_str().expect("version").to_owned();
        locked.entry(name).or_default().insert(version);
    }
    for p in packages.iter().filter(|p| p.get("source").is_none()) {
        for dep in p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            let mut parts = dep.as_str().expect("dependency").split(' ');
            let name = parts.next().expect("name").to_owned();
            let version = match parts.next() {
                Some(v) => v.to_owned(),
                None => locked[&name].iter().next().expect("locked").clone(),
            };
            wanted.entry(name).or_default().insert(version);
        }
    }
    let doubled: Vec<String> = wanted
        .iter()
        .filter(|(_, versions)| versions.len() > 1)
        .map(|(name, versions)| format!("{name} {versions:?}"))
        .collect();
    assert!(
        doubled.is_empty(),
        "the workspace's own crates (vendored ones included) depend on several versions of: {}",
        doubled.join(", ")
    );
}

#[test]
fn the_usage_check_tells_a_use_from_a_mention() {
    assert!(names_crate("use nix::errno::Errno;", "nix"));
    assert!(names_crate(
        "let x = serde_json::to_string(&v);",
        "serde_json"
    ));
    assert!(names_crate("use tempfile;", "tempfile"));
    assert!(names_crate("extern crate libc;", "libc"));
    assert!(!names_crate("// unix::fs is not nix", "nix"));
    assert!(!names_crate("let my_nix::x = 1;", "nix"));
    assert!(!names_crate("use phoenix::x;", "nix"));
    assert!(!names_crate("the crate nix is fine", "nix"));
    assert!(!names_crate("use std::io::nix_like;", "nix"));
}
