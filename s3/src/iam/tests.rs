//! The IAM store's test suite: one `test_suite(store)` run against a real LMDB environment,
//! plus the properties that need their own setup (restart, schema, concurrency, at rest).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::policy::BucketPreset;

const PW: &str = "Passw0rd!x";

fn open(dir: &Path) -> Iam {
    Iam::open(dir, IamOptions::default()).unwrap()
}

fn s3_user(name: &str, password: &str) -> NewUser {
    NewUser {
        name: name.into(),
        role: Role::S3,
        password: SecretString::new(password),
        posix_uid: Some(1000),
        posix_gid: Some(100),
        policy: None,
    }
}

/// Every administrative operation, in the order an operator would use them.
fn test_suite(iam: &Iam) {
    users(iam);
    policies(iam);
    bucket_settings(iam);
}

fn users(iam: &Iam) {
    let alice = iam.add_user(s3_user("alice", PW)).unwrap();
    assert_eq!(alice.posix_uid, 1000);
    assert!(matches!(
        iam.add_user(s3_user("alice", PW)),
        Err(Error::UserExists(_))
    ));
    assert!(matches!(
        iam.add_user(s3_user("weak", "password")),
        Err(Error::PasswordWeak(_))
    ));
    assert!(matches!(
        iam.add_user(s3_user("ASIA1234567890123456", PW)),
        Err(Error::UserNameInvalid { .. })
    ));
    let ops = NewUser {
        name: "ops".into(),
        role: Role::ClusterAdmin,
        password: SecretString::new(PW),
        posix_uid: None,
        posix_gid: None,
        policy: None,
    };
    iam.add_user(ops).unwrap();
    assert!(
        iam.s3_identity("ops").is_none(),
        "non-S3 roles never get an S3 identity"
    );
    let id = iam.s3_identity("alice").unwrap();
    assert_eq!(id.secret.expose(), PW);
    assert!(id.policy.is_none(), "a new S3 user has no policy");
    assert!(iam.verify_password("alice", PW) && iam.verify_password("ops", PW));
    assert!(!iam.verify_password("alice", "Wrong0ne!") && !iam.verify_password("nobody", PW));

    let before = iam.s3_identity("alice").unwrap().token_generation;
    iam.set_password("alice", &SecretString::new("N3wPassword"))
        .unwrap();
    let after = iam.s3_identity("alice").unwrap();
    assert_eq!(after.secret.expose(), "N3wPassword");
    assert!(
        after.token_generation > before,
        "passwd ends temporary credentials"
    );
    assert!(iam.revoke_tokens("alice").unwrap() > after.token_generation);

    let updated = iam
        .update_user(
            "alice",
            UserUpdate {
                posix_uid: Some(2000),
                ..UserUpdate::default()
            },
        )
        .unwrap();
    assert_eq!((updated.posix_uid, updated.posix_gid), (2000, 100));
    iam.update_user(
        "ops",
        UserUpdate {
            role: Some(Role::ReadOnly),
            ..UserUpdate::default()
        },
    )
    .unwrap();
    assert_eq!(iam.user("ops").unwrap().role, Role::ReadOnly);
    assert!(matches!(
        iam.delete_user("ghost"),
        Err(Error::UserNotFound(_))
    ));
    let names: Vec<String> = iam
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "ops"]);
}

fn policies(iam: &Iam) {
    let json = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}"#;
    iam.create_policy("getter", json).unwrap();
    assert!(matches!(
        iam.create_policy("getter", json),
        Err(Error::PolicyExists(_))
    ));
    assert!(matches!(
        iam.create_policy("readonly", json),
        Err(Error::PolicyBuiltin(_))
    ));
    assert!(matches!(
        iam.create_policy("bad", "{not json"),
        Err(Error::PolicyInvalid(_))
    ));
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::*"}}]}}"#,
        "x".repeat(2100)
    );
    assert!(matches!(
        iam.create_policy("big", &big),
        Err(Error::PolicyInvalid(_))
    ));
    assert_eq!(iam.policy_json("getter").unwrap(), json);
    assert_eq!(
        iam.policy_json("readonly").unwrap(),
        crate::policy::builtin::READONLY
    );

    assert!(matches!(
        iam.detach_policy("alice"),
        Err(Error::NoPolicyAttached(_))
    ));
    iam.attach_policy("getter", "alice").unwrap();
    assert!(matches!(
        iam.attach_policy("nope", "alice"),
        Err(Error::PolicyNotFound(_))
    ));
    assert!(matches!(
        iam.attach_policy("getter", "ops"),
        Err(Error::NotS3User { .. })
    ));
    assert_eq!(
        iam.s3_identity("alice").unwrap().policy_name.as_deref(),
        Some("getter")
    );
    assert!(iam.s3_identity("alice").unwrap().policy.is_some());
    let Err(Error::PolicyAttached { users, .. }) = iam.remove_policy("getter") else {
        panic!("removed an attached policy")
    };
    assert_eq!(users, ["alice"]);
    assert!(matches!(
        iam.remove_policy("readwrite"),
        Err(Error::PolicyBuiltin(_))
    ));
    let gen = iam.s3_identity("alice").unwrap().token_generation;
    assert_eq!(iam.detach_policy("alice").unwrap(), "getter");
    assert!(
        iam.s3_identity("alice").unwrap().token_generation > gen,
        "detach ends temporary credentials"
    );
    iam.remove_policy("getter").unwrap();
    let names: Vec<String> = iam
        .list_policies()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["readonly", "writeonly", "readwrite"]);
}

fn bucket_settings(iam: &Iam) {
    assert!(iam.bucket_settings("pub").is_none());
    let download = iam
        .preset_bucket_policy("pub", BucketPreset::Download)
        .unwrap();
    assert_eq!(
        iam.preset_bucket_policy("pub", BucketPreset::None)
            .unwrap()
            .map(|p| p.kind),
        None
    );
    assert!(matches!(
        "everything"
            .parse::<BucketPreset>()
            .map_err(Error::from)
            .and_then(|p| iam.preset_bucket_policy("pub", p)),
        Err(Error::BucketPolicyKindInvalid(_))
    ));
    let star = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::pub/*"}]}"#;
    assert!(matches!(
        iam.custom_bucket_policy(star),
        Err(Error::PolicyInvalid(_))
    ));
    let record = BucketRecord {
        id: Some("0123456789abcdef0123456789abcdef".into()),
        policy: download,
        quota: Some(1 << 30),
    };
    iam.update_bucket("pub", |old| {
        assert!(old.is_none());
        Ok::<_, Error>(Some(record))
    })
    .unwrap();
    let settings = iam.bucket_settings("pub").unwrap();
    assert!(settings.policy.is_some());
    assert_eq!(settings.quota, Some(1 << 30));
    assert_eq!(iam.bucket_names().unwrap(), ["pub"]);
    iam.update_bucket("pub", |_| Ok::<_, Error>(None)).unwrap();
    assert!(iam.bucket_settings("pub").is_none());
    assert!(iam.bucket_record("pub").unwrap().is_none());
}

#[test]
fn store_passes_the_suite_and_keeps_everything_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let iam = open(dir.path());
    test_suite(&iam);
    let keep = BucketRecord {
        id: Some("0123456789abcdef0123456789abcdef".into()),
        policy: iam
            .preset_bucket_policy("keep", BucketPreset::Public)
            .unwrap(),
        quota: None,
    };
    iam.update_bucket("keep", |_| Ok::<_, Error>(Some(keep)))
        .unwrap();
    let users = iam.list_users().unwrap();
    drop(iam);
    let iam = open(dir.path());
    assert_eq!(iam.list_users().unwrap(), users);
    assert_eq!(
        iam.s3_identity("alice").unwrap().secret.expose(),
        "N3wPassword"
    );
    assert!(iam.bucket_settings("keep").unwrap().policy.is_some());
}

#[test]
fn deleted_user_recreated_gets_a_fresh_token_generation() {
    let dir = tempfile::tempdir().unwrap();
    let iam = open(dir.path());
    iam.add_user(s3_user("bob", PW)).unwrap();
    let old = iam.s3_identity("bob").unwrap().token_generation;
    iam.delete_user("bob").unwrap();
    assert!(iam.s3_identity("bob").is_none());
    iam.add_user(s3_user("bob", PW)).unwrap();
    assert!(iam.s3_identity("bob").unwrap().token_generation > old);
}

#[test]
fn schema_version_mismatch_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (env, tables) = store::open(&dir.path().join("iam")).unwrap();
        store::set_schema_version(&env, &tables, SCHEMA_VERSION + 1).unwrap();
    }
    let Err(err) = Iam::open(dir.path(), IamOptions::default()) else {
        panic!("opened a store of another schema")
    };
    let msg = err.to_string();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{msg}");
    assert!(
        msg.contains("schema version 2") && msg.contains("understands 1"),
        "{msg}"
    );
}

#[test]
fn secrets_are_not_stored_in_clear_in_the_lmdb_file() {
    let dir = tempfile::tempdir().unwrap();
    let iam = open(dir.path());
    let secret = "Zq7VeryRecognisableSecret";
    iam.add_user(s3_user("carol", secret)).unwrap();
    iam.add_user(NewUser {
        name: "dave".into(),
        role: Role::Regular,
        password: SecretString::new(secret),
        posix_uid: None,
        posix_gid: None,
        policy: None,
    })
    .unwrap();
    drop(iam);
    let bytes = std::fs::read(dir.path().join("iam/data.mdb")).unwrap();
    assert!(
        bytes.windows(5).any(|w| w == b"carol"),
        "the test must look at the right file"
    );
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

#[test]
fn server_key_is_created_once_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = open(dir.path()).server_key().to_vec();
    let mode = std::fs::metadata(dir.path().join(SERVER_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(key.len(), 32);
    assert_eq!(open(dir.path()).server_key(), key.as_slice());
}

#[test]
fn initial_admin_is_created_once_with_readwrite_and_a_0600_credentials_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let iam = open(dir.path());
    let (user, secret) = iam.ensure_initial_admin(dir.path()).unwrap().unwrap();
    assert_eq!(user, "admin");
    assert_eq!(secret.len(), 40);
    let id = iam.s3_identity("admin").unwrap();
    assert_eq!(id.policy_name.as_deref(), Some("readwrite"));
    let path = dir.path().join(INITIAL_CREDENTIALS_FILE);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("AWS_ACCESS_KEY_ID=admin\nAWS_SECRET_ACCESS_KEY={secret}\n")
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(iam.ensure_initial_admin(dir.path()).unwrap().is_none());
}

#[test]
fn readers_never_miss_a_valid_user_while_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let iam = open(dir.path());
    iam.add_user(s3_user("steady", PW)).unwrap();
    iam.attach_policy("readonly", "steady").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (iam, stop) = (iam.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = iam
                        .s3_identity("steady")
                        .expect("valid user missing from a snapshot");
                    assert!(id.policy.is_some(), "valid user seen without its policy");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 0..40 {
        iam.add_user(s3_user(&format!("churn{i}"), PW)).unwrap();
        iam.attach_policy("readwrite", &format!("churn{i}"))
            .unwrap();
        iam.delete_user(&format!("churn{i}")).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn s3_user_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let iam = Iam::open(
        dir.path(),
        IamOptions {
            max_s3_users: 2,
            ..IamOptions::default()
        },
    )
    .unwrap();
    iam.add_user(s3_user("one", PW)).unwrap();
    iam.add_user(s3_user("two", PW)).unwrap();
    assert!(matches!(
        iam.add_user(s3_user("three", PW)),
        Err(Error::LimitReached(_))
    ));
}

/// Not a test on its own: the child process of
/// `a_store_killed_mid_write_reopens_with_every_committed_user_intact`, writing until killed.
#[test]
#[ignore = "run as a child process by the SIGKILL test"]
fn writer_child_adds_users_until_killed() {
    let Some(dir) = std::env::var_os("WEKAD_IAM_KILL_DIR") else {
        return;
    };
    let iam = open(Path::new(&dir));
    for i in 0.. {
        iam.add_user(s3_user(&format!("kill{i:06}"), PW)).unwrap();
        iam.attach_policy("readonly", &format!("kill{i:06}"))
            .unwrap();
        if i == KILL_AFTER {
            std::fs::write(Path::new(&dir).join("committed"), b"").unwrap();
        }
    }
}

/// The writer child says it has committed this many users (and keeps writing).
const KILL_AFTER: usize = 20;

#[test]
fn a_store_killed_mid_write_reopens_with_every_committed_user_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "iam::tests::writer_child_adds_users_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env("WEKAD_IAM_KILL_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed as soon as it says it committed some users: it is then in the middle of
    // writing the next ones.
    let committed = dir.path().join("committed");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !committed.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let iam = open(dir.path());
    let listed = iam.list_users().unwrap();
    assert!(
        !listed.is_empty(),
        "the child committed nothing before it was killed"
    );
    for (i, user) in listed.iter().enumerate() {
        assert_eq!(
            user.name,
            format!("kill{i:06}"),
            "committed users form a prefix of the writes"
        );
        let id = iam.s3_identity(&user.name).unwrap();
        assert_eq!(id.secret.expose(), PW);
    }
    let last = listed.len() - 1;
    for user in &listed[..last] {
        assert_eq!(
            user.policy.as_deref(),
            Some("readonly"),
            "{} lost its policy",
            user.name
        );
    }
}
