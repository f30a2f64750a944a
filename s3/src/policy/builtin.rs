//! Built-in IAM policies and the bucket policy presets, with WEKA's exact JSON.
//!
//! Invariant: `READONLY`, `WRITEONLY` and `READWRITE` are byte for byte the documents of
//! the WEKA reference; the IAM store serves them as-is and refuses to change or remove
//! them. Presets are generated per bucket and are valid bucket policies. No I/O.

/// `readonly`: read objects and bucket locations.
pub const READONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetBucketLocation","s3:GetObject"],"Resource":["arn:aws:s3:::*"]}]}"#;

/// `writeonly`: write objects.
pub const WRITEONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::*"]}]}"#;

/// `readwrite`: everything.
pub const READWRITE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}"#;

/// Names of the built-in policies, in listing order.
pub const BUILTIN_NAMES: [&str; 3] = ["readonly", "writeonly", "readwrite"];

/// The JSON of a built-in policy, by name.
pub fn builtin(name: &str) -> Option<&'static str> {
    match name {
        "readonly" => Some(READONLY),
        "writeonly" => Some(WRITEONLY),
        "readwrite" => Some(READWRITE),
        _ => None,
    }
}

/// An anonymous-access preset of `weka s3 bucket policy set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketPreset {
    /// No anonymous access (no bucket policy).
    None,
    Download,
    Upload,
    Public,
}

impl BucketPreset {
    /// Every preset, in WEKA's order.
    pub const ALL: [BucketPreset; 4] = [
        BucketPreset::None,
        BucketPreset::Download,
        BucketPreset::Upload,
        BucketPreset::Public,
    ];

    /// Parses `none|download|upload|public`.
    pub fn parse(name: &str) -> Option<BucketPreset> {
        BucketPreset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            BucketPreset::None => "none",
            BucketPreset::Download => "download",
            BucketPreset::Upload => "upload",
            BucketPreset::Public => "public",
        }
    }

    /// (actions on `arn:aws:s3:::B`, actions on `arn:aws:s3:::B/*`), per the reference.
    fn actions(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            BucketPreset::None => (&[], &[]),
            BucketPreset::Download => (
                &["s3:GetBucketLocation", "s3:ListBucket"],
                &["s3:GetObject"],
            ),
            BucketPreset::Upload => (
                &["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                &[
                    "s3:DeleteObject",
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                ],
            ),
            BucketPreset::Public => (
                &[
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                ],
                &[
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:GetObject",
                ],
            ),
        }
    }

    /// The bucket policy JSON of this preset for `bucket`; `None` for `none`.
    pub fn json(self, bucket: &str) -> Option<String> {
        let (on_bucket, on_objects) = self.actions();
        if on_bucket.is_empty() {
            return None;
        }
        let statement = |actions: &[&str], resource: String| {
            serde_json::json!({
                "Effect": "Allow",
                "Principal": "*",
                "Action": actions,
                "Resource": [resource],
            })
        };
        let document = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                statement(on_bucket, format!("arn:aws:s3:::{bucket}")),
                statement(on_objects, format!("arn:aws:s3:::{bucket}/*")),
            ],
        });
        Some(document.to_string())
    }

    /// Which preset a stored bucket policy is, if it is one (for `policy get`); a
    /// missing policy is `None` (the preset), a custom one `Option::None`.
    pub fn detect(policy_json: Option<&str>, bucket: &str) -> Option<BucketPreset> {
        let Some(text) = policy_json else {
            return Some(BucketPreset::None);
        };
        let stored: serde_json::Value = serde_json::from_str(text).ok()?;
        BucketPreset::ALL.into_iter().find(|preset| {
            preset
                .json(bucket)
                .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
                .is_some_and(|v| v == stored)
        })
    }
}

/// A name that is no [`BucketPreset`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bucket policy preset `{0}`")]
pub struct UnknownBucketPreset(pub String);

impl std::str::FromStr for BucketPreset {
    type Err = UnknownBucketPreset;

    /// Parses `none|download|upload|public`.
    fn from_str(name: &str) -> Result<BucketPreset, UnknownBucketPreset> {
        BucketPreset::parse(name).ok_or_else(|| UnknownBucketPreset(name.to_owned()))
    }
}

impl std::fmt::Display for BucketPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a bucket's anonymous access setting is: a preset (`none` when there is no bucket
/// policy) or a custom document. Stored and sent on the control socket by name
/// (`none`, `download`, `upload`, `public`, `custom`), as it always was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketPolicyKind {
    Preset(BucketPreset),
    Custom,
}

impl BucketPolicyKind {
    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            BucketPolicyKind::Preset(preset) => preset.name(),
            BucketPolicyKind::Custom => "custom",
        }
    }

    /// Parses a preset name or `custom`.
    pub fn parse(name: &str) -> Option<BucketPolicyKind> {
        match name {
            "custom" => Some(BucketPolicyKind::Custom),
            preset => BucketPreset::parse(preset).map(BucketPolicyKind::Preset),
        }
    }
}

impl std::fmt::Display for BucketPolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for BucketPolicyKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for BucketPolicyKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        BucketPolicyKind::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(UnknownBucketPreset(name)))
    }
}

/// The JSON of preset `kind` (`none|download|upload|public`) for `bucket`. `None` both
/// for `none` (no policy) and for an unknown kind: check with `BucketPreset::parse`.
pub fn bucket_preset(kind: &str, bucket: &str) -> Option<String> {
    BucketPreset::parse(kind).and_then(|preset| preset.json(bucket))
}
