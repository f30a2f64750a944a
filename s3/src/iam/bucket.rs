//! Bucket settings as the IAM store keeps them: one record per bucket name (anonymous
//! policy, hard quota) carrying the id of the bucket directory it was set for.
//!
//! This module validates settings and stores records; it performs no file-system I/O and
//! never decides whether a record applies to the directory that now has that name. That is
//! `crate::buckets`, the one owner of a bucket, which is also the only caller here: every
//! write goes through `update_bucket`, so the owner can compare directory ids inside the
//! same write transaction.

use std::sync::Arc;

use super::error::{Error, Result};
use super::snapshot::BucketSettings;
use super::store::{self, BucketPolicyRecord, BucketRecord};
use super::Iam;
use crate::policy::{BucketPolicyKind, BucketPreset, Policy, UnknownBucketPreset};

/// Limit used to validate bucket policy presets, which we generate ourselves.
const PRESET_MAX_BYTES: usize = 1 << 16;

/// A bucket's anonymous access setting: `none`, a preset, or `custom`, with its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPolicySetting {
    pub kind: BucketPolicyKind,
    pub json: Option<String>,
}

impl BucketPolicySetting {
    /// The setting a record holds (`none` without a policy).
    pub(crate) fn of(policy: Option<BucketPolicyRecord>) -> BucketPolicySetting {
        match policy {
            Some(p) => BucketPolicySetting {
                kind: p.kind,
                json: Some(p.json),
            },
            None => BucketPolicySetting {
                kind: BucketPolicyKind::Preset(BucketPreset::None),
                json: None,
            },
        }
    }
}

impl Iam {
    /// The settings stored under `bucket`, as of the published snapshot (request paths).
    pub(crate) fn bucket_settings(&self, bucket: &str) -> Option<Arc<BucketSettings>> {
        self.snapshot().buckets.get(bucket).cloned()
    }

    /// The record stored under `bucket`, read from the store (admin paths).
    pub(crate) fn bucket_record(&self, bucket: &str) -> Result<Option<BucketRecord>> {
        self.read(|t, txn| store::get_json(t.buckets, txn, bucket))
    }

    /// Every bucket name that has a record, in key order.
    pub(crate) fn bucket_names(&self) -> Result<Vec<String>> {
        self.read(|t, txn| {
            let mut names = Vec::new();
            for item in t.buckets.iter(txn)? {
                names.push(item?.0.to_owned());
            }
            Ok(names)
        })
    }

    /// Replaces the record of `bucket` with what `change` makes of the current one (`None`:
    /// no record), in one write transaction. `change` runs under the store's write lock, so
    /// no other settings write interleaves with what it reads; it must not call back into
    /// the store.
    pub(crate) fn update_bucket<E: From<Error>>(
        &self,
        bucket: &str,
        change: impl FnOnce(Option<BucketRecord>) -> Result<Option<BucketRecord>, E>,
    ) -> Result<(), E> {
        self.mutate_with(|t, wtxn| {
            let current = store::get_json::<BucketRecord>(t.buckets, wtxn, bucket)?;
            match change(current)? {
                Some(record) => store::put_json(t.buckets, wtxn, bucket, &record)?,
                None => {
                    t.buckets.delete(wtxn, bucket).map_err(Error::from)?;
                }
            }
            Ok(())
        })
    }

    /// The policy record of a preset for `bucket` (`none`: no policy), validated.
    pub(crate) fn preset_bucket_policy(
        &self,
        bucket: &str,
        preset: BucketPreset,
    ) -> Result<Option<BucketPolicyRecord>> {
        let Some(json) = preset.json(bucket) else {
            return Ok(None);
        };
        Policy::parse_bucket_policy(&json, PRESET_MAX_BYTES)
            .map_err(|e| Error::PolicyInvalid(e.to_string()))?;
        Ok(Some(BucketPolicyRecord {
            kind: BucketPolicyKind::Preset(preset),
            json,
        }))
    }

    /// The policy record of a custom anonymous policy, validated (`s3:*` refused).
    pub(crate) fn custom_bucket_policy(&self, json: &str) -> Result<BucketPolicyRecord> {
        Policy::parse_bucket_policy(json, self.inner.opts.policy_max_bytes)
            .map_err(|e| Error::PolicyInvalid(e.to_string()))?;
        Ok(BucketPolicyRecord {
            kind: BucketPolicyKind::Custom,
            json: json.to_owned(),
        })
    }
}

impl From<UnknownBucketPreset> for Error {
    fn from(e: UnknownBucketPreset) -> Error {
        Error::BucketPolicyKindInvalid(e.0)
    }
}
