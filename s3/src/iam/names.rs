//! Checked values of the IAM store: user names, roles, policy names, the password rule.
//!
//! Everything an administrator types is parsed here once, at the boundary; the store only
//! ever sees values that passed these checks. No I/O.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// Characters allowed in a user name (a user name is an S3 access key).
const NAME_PUNCT: &[u8] = b"_.-@+=,";

/// Length of STS temporary access keys, which start with `ASIA`.
pub const STS_KEY_LEN: usize = 20;

/// Prefix reserved for STS temporary access keys.
pub const STS_KEY_PREFIX: &str = "ASIA";

/// The role of a user, as in WEKA. Only `S3` users may use the S3 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    ClusterAdmin,
    OrgAdmin,
    Regular,
    ReadOnly,
    S3,
}

impl Role {
    /// Parses WEKA's role names (case-insensitive).
    pub fn parse(s: &str) -> Result<Role> {
        match s.to_ascii_lowercase().as_str() {
            "clusteradmin" => Ok(Role::ClusterAdmin),
            "orgadmin" => Ok(Role::OrgAdmin),
            "regular" => Ok(Role::Regular),
            "readonly" => Ok(Role::ReadOnly),
            "s3" => Ok(Role::S3),
            _ => Err(Error::RoleInvalid(s.to_owned())),
        }
    }

    /// WEKA's name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ClusterAdmin => "clusteradmin",
            Role::OrgAdmin => "orgadmin",
            Role::Regular => "regular",
            Role::ReadOnly => "readonly",
            Role::S3 => "s3",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a user name: 3-64 characters of `[A-Za-z0-9_.-@+=,]`, not shaped like an STS key.
pub fn check_user_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::UserNameInvalid {
            name: name.to_owned(),
            reason,
        })
    };
    if name.len() < 3 || name.len() > 64 {
        return invalid("must be 3 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || NAME_PUNCT.contains(&b))
    {
        return invalid("only letters, digits and _ . - @ + = , are allowed");
    }
    if is_sts_shaped(name) {
        return invalid(
            "20-character names starting with ASIA are reserved for temporary credentials",
        );
    }
    Ok(())
}

/// True when `key` has the shape of an STS temporary access key.
pub fn is_sts_shaped(key: &str) -> bool {
    key.len() == STS_KEY_LEN && key.starts_with(STS_KEY_PREFIX)
}

/// Checks a policy name: 1-128 characters of `[A-Za-z0-9_.-@+=,]`.
pub fn check_policy_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::PolicyNameInvalid {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 128 {
        return invalid("must be 1 to 128 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || NAME_PUNCT.contains(&b))
    {
        return invalid("only letters, digits and _ . - @ + = , are allowed");
    }
    Ok(())
}

/// WEKA's password rule: at least 8 characters, one uppercase, one lowercase, and one digit
/// or special character. At most 128 characters, printable ASCII (it is also an S3 secret).
pub fn check_password(password: &str) -> Result<()> {
    if password.len() < 8 {
        return Err(Error::PasswordWeak("must be at least 8 characters"));
    }
    if password.len() > 128 {
        return Err(Error::PasswordWeak("must be at most 128 characters"));
    }
    if !password.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::PasswordWeak(
            "only printable ASCII characters without spaces are allowed",
        ));
    }
    if !password.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::PasswordWeak("needs an uppercase letter"));
    }
    if !password.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(Error::PasswordWeak("needs a lowercase letter"));
    }
    if !password
        .bytes()
        .any(|b| b.is_ascii_digit() || b.is_ascii_punctuation())
    {
        return Err(Error::PasswordWeak("needs a digit or a special character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("admin" ; "plain")]
    #[test_case("a.b-c_d@e+f=g,h" ; "every punctuation")]
    #[test_case("ASIA1234567890123456X" ; "asia but 21 chars")]
    fn user_names_valid_as_access_keys_are_accepted(name: &str) {
        assert!(check_user_name(name).is_ok());
    }

    #[test_case("ab" ; "too short")]
    #[test_case("a b c" ; "space")]
    #[test_case("user/x" ; "slash")]
    #[test_case("ASIA1234567890123456" ; "sts shaped")]
    fn user_names_that_are_not_access_keys_are_refused(name: &str) {
        assert!(check_user_name(name).is_err());
    }

    #[test_case("Passw0rd", true ; "upper lower digit")]
    #[test_case("Password!", true ; "upper lower special")]
    #[test_case("Pass0", false ; "short")]
    #[test_case("password1", false ; "no upper")]
    #[test_case("PASSWORD1", false ; "no lower")]
    #[test_case("Passwordx", false ; "no digit or special")]
    fn password_rule_matches_weka(password: &str, ok: bool) {
        assert_eq!(check_password(password).is_ok(), ok);
    }

    #[test]
    fn roles_parse_case_insensitively_and_print_as_weka_names() {
        assert_eq!(Role::parse("ClusterAdmin").unwrap(), Role::ClusterAdmin);
        assert_eq!(Role::parse("s3").unwrap().as_str(), "s3");
        assert!(Role::parse("root").is_err());
    }
}
