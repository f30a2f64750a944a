//! The one owner of a bucket: its directory and every setting of it (anonymous policy, hard
//! quota, and whatever setting joins them later). The S3 handlers, the access check and
//! the daemon's control socket create, delete and configure buckets only through `Buckets`.
//!
//! A bucket's settings are stored in the IAM store under its name, together with the id of
//! the bucket directory they were set for (`weka_fs::object::BucketId`, a private xattr of
//! the directory, stamped when a first setting is set). They apply only while the directory
//! of that name carries that id. So a bucket deleted and created again, through S3, through
//! `rmdir` and `mkdir` on the mount, with the CLI or directly on the backing directory,
//! starts with no setting, and a bucket renamed away leaves its settings behind, unapplied.
//! This holds by construction, whether or not the daemon saw the directory go.
//!
//! Records that no longer apply are also dropped, so that listings never show them: by every
//! create and delete made here; shortly after any top-level entry changes through either
//! door (a change-event sink hands the name to a background thread, since sinks must stay
//! quick); when a lookup finds a mismatch; and at start by `sweep`, which also adopts
//! records written before bucket directories had ids.
//!
//! Invariants: every settings write goes through `Iam::update_bucket`, and reads the
//! directory's id inside that write transaction, so a drop never removes settings set for
//! the directory that has the name now. The request-path lookup (`policy`) reads the xattr
//! only when a record exists for the name. This module evaluates no policy and never
//! removes a directory that is not empty.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use weka_fs::events::{Change, ChangeSink, Origin};
use weka_fs::object::{BucketId, BucketName, ObjectError, ObjectView, Owner};
use weka_fs::Ino;

use crate::iam::{self, BucketPolicySetting, BucketRecord, BucketSettings, Iam};
use crate::policy::{BucketPreset, Policy, UnknownBucketPreset};

/// What went wrong owning a bucket: its directory, or its settings in the IAM store.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error(transparent)]
    Fs(#[from] weka_fs::Error),
    #[error(transparent)]
    Iam(#[from] iam::Error),
}

impl From<UnknownBucketPreset> for BucketError {
    fn from(e: UnknownBucketPreset) -> BucketError {
        BucketError::Iam(e.into())
    }
}

impl From<BucketError> for crate::error::Error {
    fn from(e: BucketError) -> crate::error::Error {
        match e {
            BucketError::Fs(e) => crate::error::Error::Fs(e),
            BucketError::Iam(e) => crate::error::Error::Internal(e.to_string()),
        }
    }
}

type Result<T, E = BucketError> = std::result::Result<T, E>;

/// What the start-up sweep did with the stored settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Records whose directory still carries their id.
    pub kept: usize,
    /// Records of an earlier version (no id) whose directory exists: now stamped.
    pub adopted: usize,
    /// Records whose directory is gone or is another one.
    pub dropped: usize,
}

/// The owner of every bucket. Cheap to clone; clones share one background tidier.
#[derive(Clone)]
pub struct Buckets {
    shared: Arc<Shared>,
}

struct Shared {
    core: Core,
    /// Names whose record may no longer apply, for the tidier thread. Closed when the last
    /// `Buckets` clone goes, which ends the thread.
    stale: Option<Sender<String>>,
    /// The tidier thread, joined on drop so that its IAM handle is gone when the owner is
    /// (the store can then be opened again in the same process).
    tidier: Option<JoinHandle<()>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stale = None;
        if let Some(tidier) = self.tidier.take() {
            // A tidier that panicked has nothing left to clean up; its records wait for
            // the next start's sweep.
            let _ = tidier.join();
        }
    }
}

/// The IAM store and the object view, without the tidier's channel (the tidier holds one).
#[derive(Clone)]
struct Core {
    iam: Iam,
    view: Arc<ObjectView>,
}

/// The bucket directory of a name, as far as settings are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dir {
    Missing,
    Unstamped,
    Stamped(BucketId),
}

/// What becomes of a stored record, given the directory that now has its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    Adopt,
    Drop(&'static str),
}

/// The rule every check follows: settings belong to the directory whose id they carry.
fn verdict(record_id: Option<&str>, dir: &Dir, adopt: bool) -> Verdict {
    match (record_id, dir) {
        (_, Dir::Missing) => Verdict::Drop("its directory is gone"),
        (Some(want), Dir::Stamped(id)) if id.as_str() == want => Verdict::Keep,
        (Some(_), Dir::Stamped(_) | Dir::Unstamped) => {
            Verdict::Drop("its directory was replaced or renamed")
        }
        (None, Dir::Stamped(_) | Dir::Unstamped) if adopt => Verdict::Adopt,
        (None, Dir::Stamped(_) | Dir::Unstamped) => Verdict::Drop("it names no directory"),
    }
}

impl Buckets {
    /// The owner over `iam` and `view`; starts the thread that drops stale records.
    pub fn new(iam: Iam, view: Arc<ObjectView>) -> Buckets {
        let core = Core { iam, view };
        let (stale, names) = mpsc::channel();
        let tidier = core.clone();
        let spawned = std::thread::Builder::new()
            .name("wekad-buckets".into())
            .spawn(move || tidy(&tidier, &names));
        let tidier = match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                // Settings still never apply to the wrong directory; stale records just
                // stay until the next start's sweep.
                tracing::warn!(error = %e, "cannot start the bucket settings tidier");
                None
            }
        };
        let shared = Shared {
            core,
            stale: Some(stale),
            tidier,
        };
        Buckets {
            shared: Arc::new(shared),
        }
    }

    /// The IAM store the settings live in.
    pub fn iam(&self) -> &Iam {
        &self.shared.core.iam
    }

    /// The object view the bucket directories live in.
    pub fn view(&self) -> &Arc<ObjectView> {
        &self.shared.core.view
    }

    /// Subscribes to the tree's change events, so that a top-level directory removed,
    /// created or renamed through either door has its stale settings dropped at once.
    pub fn watch(&self) {
        let sink = Arc::new(Watch(Arc::downgrade(&self.shared)));
        self.view().root().events().subscribe(sink);
    }

    /// Checks every stored record against its directory: keeps those whose directory
    /// carries their id, adopts those of an earlier version whose directory exists, drops
    /// the rest. Run at start, before either door opens.
    pub fn sweep(&self) -> Result<Sweep> {
        let mut sweep = Sweep::default();
        for name in self.iam().bucket_names()? {
            match self.shared.core.reconcile(&name, true) {
                Ok(Verdict::Keep) => sweep.kept += 1,
                Ok(Verdict::Adopt) => sweep.adopted += 1,
                Ok(Verdict::Drop(_)) => sweep.dropped += 1,
                Err(e) => {
                    tracing::warn!(bucket = %name, error = %e, "cannot check the settings of this bucket; they stay unapplied")
                }
            }
        }
        Ok(sweep)
    }

    /// Creates an empty bucket with no setting (an earlier bucket's are dropped).
    pub fn create(&self, bucket: &BucketName, owner: Owner) -> Result<()> {
        self.view().create_bucket(bucket, owner)?;
        self.shared.core.tidy_now(bucket.as_str());
        Ok(())
    }

    /// Deletes an empty bucket and every setting of it.
    pub fn delete(&self, bucket: &BucketName) -> Result<()> {
        self.view().delete_bucket(bucket)?;
        self.shared.core.tidy_now(bucket.as_str());
        Ok(())
    }

    /// The anonymous access policy of `bucket`, if one applies to its directory. Called on
    /// each request; reads the directory's id only when a policy is stored for the name.
    pub fn policy(&self, bucket: &str) -> Option<Arc<Policy>> {
        let settings = self.iam().bucket_settings(bucket)?;
        let policy = settings.policy.clone()?;
        self.applies(bucket, &settings).then_some(policy)
    }

    /// The hard quota of `bucket` in bytes, if one applies to its directory.
    pub fn quota(&self, bucket: &BucketName) -> Option<u64> {
        let settings = self.iam().bucket_settings(bucket.as_str())?;
        let quota = settings.quota?;
        self.applies(bucket.as_str(), &settings).then_some(quota)
    }

    /// The anonymous access setting of `bucket` (`none` unless one applies).
    pub fn policy_setting(&self, bucket: &BucketName) -> Result<BucketPolicySetting> {
        let record = self.iam().bucket_record(bucket.as_str())?;
        let policy = match record {
            Some(r) if self.owns(bucket, &r)? => r.policy,
            Some(_) | None => None,
        };
        Ok(BucketPolicySetting::of(policy))
    }

    /// Sets the anonymous access policy of `bucket` to a preset (`none` removes it).
    pub fn set_policy(&self, bucket: &BucketName, preset: BucketPreset) -> Result<()> {
        let policy = self.iam().preset_bucket_policy(bucket.as_str(), preset)?;
        self.shared.core.edit(bucket, |r| r.policy = policy)
    }

    /// Sets a custom anonymous access policy on `bucket` (validated; `s3:*` refused).
    pub fn set_policy_custom(&self, bucket: &BucketName, json: &str) -> Result<()> {
        let policy = self.iam().custom_bucket_policy(json)?;
        self.shared.core.edit(bucket, |r| r.policy = Some(policy))
    }

    /// Removes the anonymous access policy of `bucket`.
    pub fn unset_policy(&self, bucket: &BucketName) -> Result<()> {
        self.shared.core.edit(bucket, |r| r.policy = None)
    }

    /// Sets (or with `None` removes) the hard quota of `bucket`, in bytes.
    pub fn set_quota(&self, bucket: &BucketName, quota: Option<u64>) -> Result<()> {
        self.shared.core.edit(bucket, |r| r.quota = quota)
    }

    /// True when `record` was set for the directory `bucket` has now.
    fn owns(&self, bucket: &BucketName, record: &BucketRecord) -> Result<bool> {
        let dir = self.shared.core.dir(bucket)?;
        Ok(verdict(record.id.as_deref(), &dir, false) == Verdict::Keep)
    }

    /// True when `settings` apply to the directory `bucket` names now; a mismatch hands the
    /// name to the tidier. An unreadable directory applies nothing (fails closed).
    fn applies(&self, bucket: &str, settings: &BucketSettings) -> bool {
        let Ok(name) = BucketName::parse(bucket) else {
            return false;
        };
        match self.shared.core.dir(&name) {
            Ok(dir) => {
                let keep = verdict(settings.id.as_deref(), &dir, false) == Verdict::Keep;
                if !keep {
                    self.shared.suspect(bucket);
                }
                keep
            }
            Err(e) => {
                tracing::warn!(bucket, error = %e, "cannot read the bucket directory's id; its settings do not apply");
                false
            }
        }
    }
}

impl Shared {
    /// Hands `bucket` to the tidier if a record is stored under it.
    fn suspect(&self, bucket: &str) {
        let Some(stale) = &self.stale else { return };
        if self.core.iam.bucket_settings(bucket).is_some() {
            // Fails only when the tidier never started: then the record waits for the next
            // start's sweep, applying to nothing meanwhile.
            let _ = stale.send(bucket.to_owned());
        }
    }
}

impl Core {
    /// The directory of `bucket`, as far as settings are concerned.
    fn dir(&self, bucket: &BucketName) -> Result<Dir> {
        match self.view.bucket_id(bucket) {
            Ok(Some(id)) => Ok(Dir::Stamped(id)),
            Ok(None) => Ok(Dir::Unstamped),
            Err(weka_fs::Error::Object(ObjectError::NoSuchBucket)) => Ok(Dir::Missing),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies `edit` to the settings of `bucket`'s current directory (a stale record is
    /// replaced, never merged), stamping the directory when a first setting is stored.
    fn edit(&self, bucket: &BucketName, edit: impl FnOnce(&mut BucketRecord)) -> Result<()> {
        self.iam
            .update_bucket(bucket.as_str(), |current| -> Result<_> {
                let dir = self.dir(bucket)?;
                let mut record = match current {
                    Some(r) if verdict(r.id.as_deref(), &dir, false) == Verdict::Keep => r,
                    Some(_) | None => BucketRecord::default(),
                };
                edit(&mut record);
                if record.is_empty() {
                    return Ok(None);
                }
                let id = match dir {
                    Dir::Stamped(id) => id,
                    Dir::Unstamped => self.view.stamp_bucket_id(bucket)?,
                    Dir::Missing => {
                        return Err(weka_fs::Error::from(ObjectError::NoSuchBucket).into())
                    }
                };
                record.id = Some(id.as_str().to_owned());
                Ok(Some(record))
            })
    }

    /// Checks the record stored under `bucket` against its directory and keeps, adopts
    /// (only when `adopt`) or drops it, in one write transaction.
    fn reconcile(&self, bucket: &str, adopt: bool) -> Result<Verdict> {
        let mut outcome = Verdict::Keep;
        self.iam.update_bucket(bucket, |current| -> Result<_> {
            let Some(mut record) = current else {
                return Ok(None);
            };
            let Ok(name) = BucketName::parse(bucket) else {
                outcome = Verdict::Drop("its name is not a bucket name");
                return Ok(None);
            };
            let dir = self.dir(&name)?;
            outcome = verdict(record.id.as_deref(), &dir, adopt);
            match outcome {
                Verdict::Keep => Ok(Some(record)),
                Verdict::Drop(_) => Ok(None),
                Verdict::Adopt => {
                    record.id = Some(self.view.stamp_bucket_id(&name)?.as_str().to_owned());
                    Ok(Some(record))
                }
            }
        })?;
        log_outcome(bucket, outcome);
        Ok(outcome)
    }

    /// Drops the record of `bucket` unless it applies to its directory. A failure is only
    /// logged: the record applies to nothing either way, and the next sweep retries.
    fn tidy_now(&self, bucket: &str) {
        if self.iam.bucket_settings(bucket).is_none() {
            return;
        }
        if let Err(e) = self.reconcile(bucket, false) {
            tracing::warn!(bucket, error = %e, "cannot drop the stale settings of this bucket; they apply to nothing");
        }
    }
}

fn log_outcome(bucket: &str, outcome: Verdict) {
    match outcome {
        Verdict::Keep => {}
        Verdict::Adopt => tracing::info!(
            bucket,
            "bucket settings from an earlier wekad adopted: tied to the bucket directory from now on"
        ),
        Verdict::Drop(why) => tracing::info!(bucket, why, "bucket settings dropped"),
    }
}

/// The tidier thread: drops the stale records of the names it is handed, until the last
/// `Buckets` clone is gone.
fn tidy(core: &Core, names: &Receiver<String>) {
    for name in names {
        core.tidy_now(&name);
    }
}

/// The change-event sink: hands every top-level name that changed to the tidier. Holds the
/// owner weakly, so the event bus never keeps it (and its thread) alive.
struct Watch(Weak<Shared>);

impl ChangeSink for Watch {
    fn changed(&self, _origin: Origin, change: &Change) {
        let Change::Entry { parent, name } = change else {
            return;
        };
        if *parent != Ino::ROOT {
            return;
        }
        if let (Some(shared), Some(name)) = (self.0.upgrade(), name.to_str()) {
            shared.suspect(name);
        }
    }
}

#[cfg(test)]
mod tests;
