//! The S3 actions a policy may name, and action patterns resolved to sets.
//!
//! Invariant: an `ActionSet` only ever holds supported actions. A pattern in a policy
//! (`s3:Get*`, `*`) is resolved once, at parse time, against the supported list, using
//! case-insensitive matching as AWS does; a pattern that matches nothing is refused.
//! Evaluation is then a bit test. This module performs no I/O.

use super::glob;
use std::fmt;

/// An S3 action that policies may allow or deny (WEKA's supported list plus the three
/// object tagging actions of newer releases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    AbortMultipartUpload,
    CreateBucket,
    DeleteBucket,
    DeleteBucketPolicy,
    DeleteObject,
    GetBucketLocation,
    GetLifecycleConfiguration,
    PutLifecycleConfiguration,
    ListBucketMultipartUploads,
    ListMultipartUploadParts,
    GetBucketPolicy,
    GetObject,
    ListAllMyBuckets,
    ListBucket,
    PutBucketPolicy,
    PutObject,
    GetBucketTagging,
    PutBucketTagging,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
}

impl Action {
    /// Every supported action, in a fixed order (the bit order of `ActionSet`).
    pub const ALL: [Action; 21] = [
        Action::AbortMultipartUpload,
        Action::CreateBucket,
        Action::DeleteBucket,
        Action::DeleteBucketPolicy,
        Action::DeleteObject,
        Action::GetBucketLocation,
        Action::GetLifecycleConfiguration,
        Action::PutLifecycleConfiguration,
        Action::ListBucketMultipartUploads,
        Action::ListMultipartUploadParts,
        Action::GetBucketPolicy,
        Action::GetObject,
        Action::ListAllMyBuckets,
        Action::ListBucket,
        Action::PutBucketPolicy,
        Action::PutObject,
        Action::GetBucketTagging,
        Action::PutBucketTagging,
        Action::GetObjectTagging,
        Action::PutObjectTagging,
        Action::DeleteObjectTagging,
    ];

    /// The action as written in policies, for example `s3:GetObject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AbortMultipartUpload => "s3:AbortMultipartUpload",
            Action::CreateBucket => "s3:CreateBucket",
            Action::DeleteBucket => "s3:DeleteBucket",
            Action::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            Action::DeleteObject => "s3:DeleteObject",
            Action::GetBucketLocation => "s3:GetBucketLocation",
            Action::GetLifecycleConfiguration => "s3:GetLifecycleConfiguration",
            Action::PutLifecycleConfiguration => "s3:PutLifecycleConfiguration",
            Action::ListBucketMultipartUploads => "s3:ListBucketMultipartUploads",
            Action::ListMultipartUploadParts => "s3:ListMultipartUploadParts",
            Action::GetBucketPolicy => "s3:GetBucketPolicy",
            Action::GetObject => "s3:GetObject",
            Action::ListAllMyBuckets => "s3:ListAllMyBuckets",
            Action::ListBucket => "s3:ListBucket",
            Action::PutBucketPolicy => "s3:PutBucketPolicy",
            Action::PutObject => "s3:PutObject",
            Action::GetBucketTagging => "s3:GetBucketTagging",
            Action::PutBucketTagging => "s3:PutBucketTagging",
            Action::GetObjectTagging => "s3:GetObjectTagging",
            Action::PutObjectTagging => "s3:PutObjectTagging",
            Action::DeleteObjectTagging => "s3:DeleteObjectTagging",
        }
    }

    /// Looks up an exact action name, case-insensitively.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of supported actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActionSet(u32);

impl ActionSet {
    /// The empty set.
    pub const EMPTY: ActionSet = ActionSet(0);

    /// Every supported action.
    pub fn all() -> ActionSet {
        ActionSet(Action::ALL.iter().fold(0, |bits, a| bits | a.bit()))
    }

    /// Whether `action` is in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// The set with `action` added.
    pub fn with(self, action: Action) -> ActionSet {
        ActionSet(self.0 | action.bit())
    }

    /// The union of two sets.
    pub fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    /// The supported actions not in this set.
    pub fn complement(self) -> ActionSet {
        ActionSet(!self.0 & ActionSet::all().0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The actions of the set, in `Action::ALL` order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

/// Resolves an action pattern (`s3:GetObject`, `s3:Get*`, `s3:*`, `*`) to the supported
/// actions it matches, case-insensitively. Empty when it matches none.
pub fn resolve_pattern(pattern: &str) -> ActionSet {
    let lowered = pattern.to_ascii_lowercase();
    let pieces = glob::compile(&lowered);
    Action::ALL
        .into_iter()
        .filter(|a| glob::matches(&pieces, &a.as_str().to_ascii_lowercase()))
        .fold(ActionSet::EMPTY, ActionSet::with)
}

/// Whether the pattern grants every action (`s3:*`, `*`, `s3:**`, ...), which bucket
/// policies refuse.
pub fn is_match_all(pattern: &str) -> bool {
    resolve_pattern(pattern) == ActionSet::all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("s3:GetObject", &[Action::GetObject]; "exact name")]
    #[test_case("S3:getobject", &[Action::GetObject]; "case insensitive")]
    #[test_case("s3:Get*Tagging", &[Action::GetBucketTagging, Action::GetObjectTagging]; "inner star")]
    #[test_case("s3:?etObject", &[Action::GetObject]; "question mark")]
    #[test_case("s3:List*", &[Action::ListBucketMultipartUploads, Action::ListMultipartUploadParts, Action::ListAllMyBuckets, Action::ListBucket]; "prefix star")]
    #[test_case("ec2:*", &[]; "other service")]
    #[test_case("s3:GetObjectAcl", &[]; "unsupported action")]
    fn patterns_resolve_to_supported_actions(pattern: &str, expected: &[Action]) {
        let got: Vec<_> = resolve_pattern(pattern).iter().collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn star_forms_resolve_to_every_action() {
        assert_eq!(resolve_pattern("s3:*"), ActionSet::all());
        assert_eq!(resolve_pattern("*"), ActionSet::all());
        assert!(
            is_match_all("*")
                && is_match_all("S3:*")
                && is_match_all("s3:**")
                && is_match_all("*:*")
        );
        assert!(!is_match_all("s3:Get*"));
    }

    #[test]
    fn complement_stays_within_supported_actions() {
        let set = ActionSet::EMPTY.with(Action::GetObject);
        let rest = set.complement();
        assert!(!rest.contains(Action::GetObject));
        assert_eq!(rest.iter().count(), Action::ALL.len() - 1);
        assert_eq!(rest.complement(), set);
    }

    #[test]
    fn every_action_name_parses_back() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
    }
}
