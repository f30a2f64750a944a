//! The bucket owner over a real LMDB store and a real backing directory; the mount's side
//! is the namespace engine (`Tree`) without a kernel, which publishes the same events.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use weka_fs::object::ObjectOptions;
use weka_fs::tree::{Caller, Tree};
use weka_fs::Root;

use super::*;
use crate::iam::{BucketPolicyRecord, IamOptions};

struct Fixture {
    dir: tempfile::TempDir,
    buckets: Buckets,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        Fixture::open(dir)
    }

    /// The owner over the store and tree of `dir` (again, for a restart).
    fn open(dir: tempfile::TempDir) -> Fixture {
        let root = Arc::new(Root::open(&dir.path().join("data")).unwrap());
        let view = Arc::new(ObjectView::new(root, ObjectOptions { sync: false }).unwrap());
        let iam = Iam::open(&dir.path().join("state"), IamOptions::default()).unwrap();
        Fixture {
            buckets: Buckets::new(iam, view),
            dir,
        }
    }

    fn path(&self, bucket: &str) -> PathBuf {
        self.dir.path().join("data").join(bucket)
    }

    /// A bucket created through the owner, with the `public` policy and a quota.
    fn public_bucket(&self, name: &str) -> BucketName {
        let b = BucketName::parse(name).unwrap();
        self.buckets.create(&b, Owner { uid: 0, gid: 0 }).unwrap();
        self.buckets.set_policy(&b, BucketPreset::Public).unwrap();
        self.buckets.set_quota(&b, Some(1 << 20)).unwrap();
        assert!(self.buckets.policy(name).is_some());
        b
    }

    fn stored(&self, bucket: &str) -> bool {
        self.buckets.iam().bucket_record(bucket).unwrap().is_some()
    }

    /// Stores a record the way a wekad without bucket ids did: no id.
    fn store_old_format(&self, bucket: &str) {
        let record = BucketRecord {
            id: None,
            policy: self
                .buckets
                .iam()
                .preset_bucket_policy(bucket, BucketPreset::Public)
                .unwrap(),
            quota: Some(7),
        };
        self.buckets
            .iam()
            .update_bucket(bucket, |_| Ok::<_, iam::Error>(Some(record)))
            .unwrap();
    }

    fn has_no_setting(&self, b: &BucketName) -> bool {
        self.buckets.policy(b.as_str()).is_none()
            && self.buckets.quota(b).is_none()
            && self.buckets.policy_setting(b).unwrap().kind.name() == "none"
    }
}

fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

#[test]
fn settings_apply_to_the_directory_they_were_set_for() {
    let f = Fixture::new();
    let b = f.public_bucket("pub");
    assert_eq!(f.buckets.quota(&b), Some(1 << 20));
    assert_eq!(f.buckets.policy_setting(&b).unwrap().kind.name(), "public");
    let id = f.buckets.view().bucket_id(&b).unwrap().unwrap();
    let stored = f.buckets.iam().bucket_record("pub").unwrap().unwrap();
    assert_eq!(stored.id.as_deref(), Some(id.as_str()));
}

#[test]
fn a_bucket_removed_and_made_again_behind_the_daemons_back_has_no_setting() {
    let f = Fixture::new();
    let b = f.public_bucket("again");
    std::fs::remove_dir(f.path("again")).unwrap();
    std::fs::create_dir(f.path("again")).unwrap();
    assert!(f.has_no_setting(&b));
}

#[test]
fn a_bucket_renamed_away_leaves_its_settings_behind_unapplied() {
    let f = Fixture::new();
    let b = f.public_bucket("moved");
    std::fs::rename(f.path("moved"), f.path("elsewhere")).unwrap();
    assert!(f.has_no_setting(&b));
    let elsewhere = BucketName::parse("elsewhere").unwrap();
    assert!(f.has_no_setting(&elsewhere));
    std::fs::create_dir(f.path("moved")).unwrap();
    assert!(f.has_no_setting(&b));
}

#[test]
fn deleting_a_bucket_drops_every_setting_at_once() {
    let f = Fixture::new();
    let b = f.public_bucket("gone");
    f.buckets.delete(&b).unwrap();
    assert!(!f.stored("gone"));
    f.buckets.create(&b, Owner { uid: 0, gid: 0 }).unwrap();
    assert!(f.has_no_setting(&b));
}

#[test]
fn creating_a_bucket_drops_the_settings_a_missed_removal_left() {
    let f = Fixture::new();
    let b = f.public_bucket("missed");
    std::fs::remove_dir(f.path("missed")).unwrap();
    assert!(f.stored("missed"), "nothing told the owner yet");
    f.buckets.create(&b, Owner { uid: 0, gid: 0 }).unwrap();
    assert!(!f.stored("missed"));
    assert!(f.has_no_setting(&b));
}

#[test]
fn a_lookup_that_finds_another_directory_has_the_stale_record_dropped() {
    let f = Fixture::new();
    let _b = f.public_bucket("lookup");
    std::fs::remove_dir(f.path("lookup")).unwrap();
    assert!(f.buckets.policy("lookup").is_none());
    assert!(eventually(|| !f.stored("lookup")));
}

#[test]
fn rmdir_and_mkdir_through_the_mount_drop_the_settings_soon() {
    let f = Fixture::new();
    f.buckets.watch();
    let b = f.public_bucket("mounted");
    let tree = Tree::new(f.buckets.view().root().clone());
    tree.rmdir(Ino::ROOT, OsStr::new("mounted")).unwrap();
    assert!(eventually(|| !f.stored("mounted")));
    tree.mkdir(Ino::ROOT, OsStr::new("mounted"), 0o755, Caller::ROOT)
        .unwrap();
    assert!(f.has_no_setting(&b));
}

#[test]
fn a_setting_made_after_a_replacement_starts_from_nothing() {
    let f = Fixture::new();
    let b = f.public_bucket("fresh");
    std::fs::remove_dir(f.path("fresh")).unwrap();
    std::fs::create_dir(f.path("fresh")).unwrap();
    f.buckets.set_policy(&b, BucketPreset::Download).unwrap();
    assert_eq!(
        f.buckets.policy_setting(&b).unwrap().kind.name(),
        "download"
    );
    assert_eq!(f.buckets.quota(&b), None, "the old quota is not merged in");
}

#[test]
fn removing_the_last_setting_removes_the_record() {
    let f = Fixture::new();
    let b = f.public_bucket("emptied");
    f.buckets.unset_policy(&b).unwrap();
    assert_eq!(f.buckets.quota(&b), Some(1 << 20));
    f.buckets.set_quota(&b, None).unwrap();
    assert!(!f.stored("emptied"));
}

#[test]
fn settings_of_a_missing_bucket_are_refused() {
    let f = Fixture::new();
    let b = BucketName::parse("nowhere").unwrap();
    assert!(matches!(
        f.buckets.set_policy(&b, BucketPreset::Public),
        Err(BucketError::Fs(weka_fs::Error::Object(
            ObjectError::NoSuchBucket
        )))
    ));
    assert!(matches!(
        "everything"
            .parse::<BucketPreset>()
            .map_err(BucketError::from)
            .and_then(|p| f.buckets.set_policy(&b, p)),
        Err(BucketError::Iam(iam::Error::BucketPolicyKindInvalid(_)))
    ));
    assert!(!f.stored("nowhere"));
}

#[test]
fn the_sweep_adopts_old_records_of_existing_buckets_and_drops_the_rest() {
    let f = Fixture::new();
    std::fs::create_dir(f.path("old")).unwrap();
    f.store_old_format("old");
    f.store_old_format("vanished");
    let _replaced = f.public_bucket("replaced");
    std::fs::remove_dir(f.path("replaced")).unwrap();
    std::fs::create_dir(f.path("replaced")).unwrap();
    let _kept = f.public_bucket("kept");
    let Fixture { dir, buckets } = f;
    drop(buckets);
    let f = Fixture::open(dir);
    let sweep = f.buckets.sweep().unwrap();
    assert_eq!(
        sweep,
        Sweep {
            kept: 1,
            adopted: 1,
            dropped: 2
        }
    );
    let old = BucketName::parse("old").unwrap();
    assert!(f.buckets.policy("old").is_some());
    assert_eq!(f.buckets.quota(&old), Some(7));
    assert!(f.buckets.view().bucket_id(&old).unwrap().is_some());
    assert!(!f.stored("vanished") && !f.stored("replaced"));
    assert!(f.buckets.policy("kept").is_some());
}

#[test]
fn an_old_record_found_after_the_sweep_never_applies() {
    let f = Fixture::new();
    std::fs::create_dir(f.path("late")).unwrap();
    f.store_old_format("late");
    assert!(f.buckets.policy("late").is_none());
}

#[test]
fn an_old_record_reads_back_without_an_id() {
    let old: BucketRecord =
        serde_json::from_str(r#"{"policy":{"kind":"public","json":"{}"},"quota":null}"#).unwrap();
    assert_eq!(old.id, None);
    let policy: Option<BucketPolicyRecord> = old.policy;
    assert_eq!(policy.map(|p| p.kind.name()), Some("public"));
}
