//! Every `weka` command against a real wekad: human and `-J` output, and each refusal with
//! its exit code and a message that names the problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::{json, Value};
use weka_e2e::Daemon;

fn run(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let out = d.weka(args);
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `weka args`, asserts success, returns stdout.
fn ok(d: &Daemon, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(d, args);
    assert_eq!(
        code,
        0,
        "weka {args:?} failed\nstdout: {stdout}\nstderr: {stderr}\n--- wekad ---\n{}",
        d.stderr()
    );
    stdout
}

/// Runs `weka args -J` and parses stdout.
fn json_of(d: &Daemon, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("-J");
    let out = ok(d, &args);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("weka {args:?} printed invalid JSON ({e}): {out}"))
}

/// Runs `weka args`, asserts exit `code` and that stderr mentions every `needles`.
fn fails(d: &Daemon, args: &[&str], code: i32, needles: &[&str]) -> String {
    let (got, stdout, stderr) = run(d, args);
    assert_eq!(
        got, code,
        "weka {args:?}: expected exit {code}\nstdout: {stdout}\nstderr: {stderr}"
    );
    for n in needles {
        assert!(
            stderr.contains(n),
            "weka {args:?}: stderr lacks {n:?}: {stderr}"
        );
    }
    stderr
}

fn file(d: &Daemon, name: &str, content: &str) -> PathBuf {
    let path = d.root().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn user_row<'a>(users: &'a Value, name: &str) -> &'a Value {
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == name)
        .unwrap_or_else(|| panic!("{name} not in {users}"))
}

#[test]
fn user_commands_manage_accounts_and_refuse_bad_input() {
    let d = Daemon::start();
    let added = json_of(
        &d,
        &[
            "user",
            "add",
            "alice",
            "s3",
            "Passw0rd!",
            "--posix-uid",
            "1001",
            "--posix-gid",
            "1002",
        ],
    );
    assert_eq!(
        (
            added["user"].as_str(),
            added["role"].as_str(),
            added["posix_uid"].as_u64()
        ),
        (Some("alice"), Some("s3"), Some(1001))
    );
    ok(&d, &["user", "add", "ops", "clusteradmin", "Adm1nPass"]);

    let users = json_of(&d, &["user"]);
    assert_eq!(user_row(&users, "admin")["s3Policy"], "readwrite");
    assert_eq!(user_row(&users, "alice")["posix_gid"], 1002);
    assert_eq!(user_row(&users, "alice")["s3Policy"], Value::Null);
    let table = ok(&d, &["user"]);
    for col in [
        "UID",
        "USER",
        "SOURCE",
        "ROLE",
        "S3 POLICY",
        "POSIX UID",
        "POSIX GID",
    ] {
        assert!(table.contains(col), "{table}");
    }
    assert_eq!(
        ok(
            &d,
            &[
                "user",
                "-f",
                "csv",
                "-o",
                "user,role",
                "-F",
                "role=s3",
                "-s",
                "-user",
                "--no-header"
            ]
        ),
        "alice,s3\nadmin,s3\n"
    );

    fails(
        &d,
        &["user", "add", "alice", "s3", "Passw0rd!"],
        1,
        &["alice", "already exists"],
    );
    fails(
        &d,
        &["user", "add", "bob", "s3", "password"],
        1,
        &["weak password", "uppercase"],
    );
    fails(
        &d,
        &["user", "add", "bob", "wizard", "Passw0rd!"],
        1,
        &["wizard", "role"],
    );
    fails(
        &d,
        &["user", "delete", "ghost"],
        1,
        &["ghost", "does not exist"],
    );
    fails(
        &d,
        &["user", "passwd", "x", "--username", "alice"],
        1,
        &["weak password"],
    );
    fails(&d, &["user", "add", "bob"], 2, &[]);

    ok(&d, &["user", "passwd", "N3wSecret!", "--username", "alice"]);
    let updated = json_of(&d, &["user", "update", "alice", "--posix-uid", "2001"]);
    assert_eq!(
        (updated["posix_uid"].as_u64(), updated["posix_gid"].as_u64()),
        (Some(2001), Some(1002))
    );
    assert_eq!(
        json_of(&d, &["user", "change-role", "ops", "readonly"])["role"],
        "readonly"
    );
    ok(&d, &["user", "revoke-tokens", "alice"]);
    fails(&d, &["user", "revoke-tokens", "ghost"], 1, &["ghost"]);
    ok(&d, &["user", "delete", "ops"]);
    assert!(json_of(&d, &["user"])
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["user"] != "ops"));
}

#[test]
fn policy_commands_validate_attach_and_detach() {
    let d = Daemon::start();
    let shown: Value =
        serde_json::from_str(&ok(&d, &["s3", "policy", "show", "readonly"])).unwrap();
    let reference = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetBucketLocation","s3:GetObject"],"Resource":["arn:aws:s3:::*"]}]});
    assert_eq!(shown, reference);
    let names: Vec<String> = json_of(&d, &["s3", "policy", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["readonly", "writeonly", "readwrite"]);

    let good = file(
        &d,
        "good.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}]}"#,
    );
    ok(
        &d,
        &[
            "s3",
            "policy",
            "create",
            "photos-read",
            good.to_str().unwrap(),
        ],
    );
    fails(
        &d,
        &["s3", "policy", "add", "photos-read", good.to_str().unwrap()],
        1,
        &["photos-read", "already exists"],
    );
    let big = file(
        &d,
        "big.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::*"}}]}}"#,
            "x".repeat(2100)
        ),
    );
    fails(
        &d,
        &["s3", "policy", "create", "big", big.to_str().unwrap()],
        1,
        &["2048"],
    );
    let broken = file(
        &d,
        "broken.json",
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n",
    );
    fails(
        &d,
        &["s3", "policy", "create", "broken", broken.to_str().unwrap()],
        1,
        &["line", "column"],
    );
    let fly = file(
        &d,
        "fly.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Fly","Resource":"arn:aws:s3:::*"}]}"#,
    );
    fails(
        &d,
        &["s3", "policy", "create", "fly", fly.to_str().unwrap()],
        1,
        &["s3:Fly", "Statement[0]"],
    );
    fails(
        &d,
        &["s3", "policy", "create", "x", "/nonexistent/policy.json"],
        2,
        &["/nonexistent/policy.json"],
    );
    fails(
        &d,
        &["s3", "policy", "show", "nope"],
        1,
        &["nope", "does not exist"],
    );
    fails(
        &d,
        &["s3", "policy", "remove", "readonly"],
        1,
        &["built in"],
    );

    ok(&d, &["user", "add", "carol", "s3", "Passw0rd!"]);
    fails(
        &d,
        &["s3", "policy", "detach", "carol"],
        1,
        &["carol", "no policy"],
    );
    fails(
        &d,
        &["s3", "policy", "attach", "nope", "carol"],
        1,
        &["nope"],
    );
    fails(
        &d,
        &["s3", "policy", "attach", "readonly", "ghost"],
        1,
        &["ghost"],
    );
    ok(&d, &["s3", "policy", "attach", "photos-read", "carol"]);
    assert_eq!(
        user_row(&json_of(&d, &["user"]), "carol")["s3Policy"],
        "photos-read"
    );
    fails(
        &d,
        &["s3", "policy", "remove", "photos-read"],
        1,
        &["carol", "detach"],
    );
    ok(&d, &["s3", "policy", "detach", "carol"]);
    ok(&d, &["s3", "policy", "remove", "photos-read"]);
    assert_eq!(
        json_of(&d, &["s3", "policy", "list"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn bucket_commands_create_list_set_policies_and_destroy() {
    let d = Daemon::start();
    ok(
        &d,
        &[
            "s3",
            "bucket",
            "create",
            "photos",
            "--policy",
            "download",
            "--hard-quota",
            "1GiB",
        ],
    );
    assert!(d.data().join("photos").is_dir());
    std::fs::write(d.data().join("photos/cat.jpg"), b"meow").unwrap();
    let list = json_of(&d, &["s3", "bucket", "list"]);
    let row = &list.as_array().unwrap()[0];
    assert_eq!(
        (
            row["name"].as_str(),
            row["hard"].as_u64(),
            row["used"].as_u64()
        ),
        (Some("photos"), Some(1 << 30), Some(4))
    );
    let table = ok(&d, &["s3", "bucket", "list"]);
    assert!(
        table.contains("NAME") && table.contains("photos"),
        "{table}"
    );
    assert_eq!(
        ok(
            &d,
            &[
                "s3",
                "bucket",
                "list",
                "-f",
                "csv",
                "-o",
                "name,hard",
                "-R",
                "--no-header"
            ]
        ),
        format!("photos,{}\n", 1u64 << 30)
    );

    assert_eq!(
        ok(&d, &["s3", "bucket", "policy", "get", "photos"]).trim(),
        "download"
    );
    let doc: Value =
        serde_json::from_str(&ok(&d, &["s3", "bucket", "policy", "get-json", "photos"])).unwrap();
    assert!(doc.to_string().contains("s3:GetObject"), "{doc}");
    ok(&d, &["s3", "bucket", "policy", "set", "photos", "upload"]);
    assert_eq!(
        json_of(&d, &["s3", "bucket", "policy", "get", "photos"])["policy"],
        "upload"
    );
    let star = file(
        &d,
        "star.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}]}"#,
    );
    fails(
        &d,
        &[
            "s3",
            "bucket",
            "policy",
            "set-custom",
            "photos",
            star.to_str().unwrap(),
        ],
        1,
        &["s3:*"],
    );
    let custom = file(
        &d,
        "custom.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*"}]}"#,
    );
    ok(
        &d,
        &[
            "s3",
            "bucket",
            "policy",
            "set-custom",
            "photos",
            custom.to_str().unwrap(),
        ],
    );
    assert_eq!(
        ok(&d, &["s3", "bucket", "policy", "get", "photos"]).trim(),
        "custom"
    );
    ok(&d, &["s3", "bucket", "policy", "unset", "photos"]);
    assert_eq!(
        ok(&d, &["s3", "bucket", "policy", "get", "photos"]).trim(),
        "none"
    );
    fails(
        &d,
        &["s3", "bucket", "policy", "set", "ghost-bucket", "public"],
        1,
        &["ghost-bucket", "does not exist"],
    );
    fails(
        &d,
        &["s3", "bucket", "policy", "set", "photos", "everything"],
        2,
        &[],
    );

    fails(
        &d,
        &["s3", "bucket", "create", "photos"],
        1,
        &["photos", "already exists"],
    );
    fails(
        &d,
        &["s3", "bucket", "create", "Not_Valid"],
        1,
        &["Not_Valid"],
    );
    fails(&d, &["s3", "bucket", "destroy", "photos"], 2, &["-f"]);
    fails(
        &d,
        &["s3", "bucket", "destroy", "photos", "-f"],
        1,
        &["not empty"],
    );
    std::fs::remove_file(d.data().join("photos/cat.jpg")).unwrap();
    ok(&d, &["s3", "bucket", "destroy", "photos", "-f"]);
    assert!(!d.data().join("photos").exists());
    assert_eq!(json_of(&d, &["s3", "bucket", "list"]), json!([]));
}

#[test]
fn status_reports_paths_and_counts() {
    let d = Daemon::start();
    let status = json_of(&d, &["status"]);
    assert_eq!(status["mount"].as_str().map(PathBuf::from), Some(d.mount()));
    assert!(status["users"].as_u64().unwrap() >= 1, "{status}");
    let text = ok(&d, &["status"]);
    assert!(
        text.contains("uptime") && text.contains(d.mount().to_str().unwrap()),
        "{text}"
    );
}

/// `weka user -o created` in the zone `tz` (a POSIX TZ string), with `extra` options.
fn created_column(d: &Daemon, tz: &str, extra: &[&str]) -> String {
    let out = std::process::Command::new(weka_e2e::weka_bin())
        .arg("--socket")
        .arg(d.socket())
        .args(["user", "-o", "created", "-f", "csv", "--no-header"])
        .args(extra)
        .env("TZ", tz)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "TZ={tz} weka user {extra:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().next().unwrap().to_owned()
}

/// Minutes since midnight of an RFC 3339 time (`…THH:MM:SS…`).
fn minute_of_day(time: &str) -> u32 {
    let (_, clock) = time.split_once('T').unwrap();
    let hours: u32 = clock[0..2].parse().unwrap();
    let minutes: u32 = clock[3..5].parse().unwrap();
    hours * 60 + minutes
}

#[test]
fn times_print_in_local_time_and_in_utc_with_capital_u() {
    let d = Daemon::start();
    // POSIX TZ strings need no zoneinfo files: "IST-5:30" is 5 h 30 min east of UTC.
    let local = created_column(&d, "IST-5:30", &[]);
    let utc = created_column(&d, "IST-5:30", &["-U"]);
    let long = created_column(&d, "IST-5:30", &["--UTC"]);
    assert!(local.ends_with("+05:30"), "{local}");
    assert!(utc.ends_with('Z'), "{utc}");
    assert_eq!(long, utc);
    assert_eq!(
        minute_of_day(&local),
        (minute_of_day(&utc) + 330) % 1440,
        "{local} and {utc} are not the same instant"
    );
    assert_eq!(created_column(&d, "UTC0", &[]), utc);
}
