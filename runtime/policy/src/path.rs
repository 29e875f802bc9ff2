//! Guest paths: where a mount appears inside the sandbox.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An absolute, normalised path inside the sandbox, such as `/workspace`.
///
/// Construction rejects anything that is not already in normal form: a
/// relative path, `.` or `..` components, empty components (`//`), a trailing
/// slash, NUL bytes and backslashes. Rejecting rather than normalising means a
/// request can never name one directory while looking like another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestPath(String);

/// Why a string is not a valid [`GuestPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuestPathError {
    /// The path does not start with `/`.
    #[error("guest path `{0}` is not absolute (it must start with `/`)")]
    NotAbsolute(String),
    /// The path is `/` itself; mounting over the sandbox root is refused.
    #[error("guest path `/` is not allowed: mount a named directory such as `/workspace`")]
    Root,
    /// The path has a `.`, `..` or empty component, or a trailing slash.
    #[error("guest path `{0}` is not normalised (no `.`, `..`, `//` or trailing `/`)")]
    NotNormalised(String),
    /// The path contains a NUL byte or a backslash.
    #[error("guest path `{0}` contains a forbidden character (NUL or `\\`)")]
    ForbiddenCharacter(String),
}

impl GuestPath {
    /// Validates `path` as a guest path.
    pub fn new(path: &str) -> Result<Self, GuestPathError> {
        if path.contains(['\0', '\\']) {
            return Err(GuestPathError::ForbiddenCharacter(path.escape_default().to_string()));
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err(GuestPathError::NotAbsolute(path.to_owned()));
        };
        if rest.is_empty() {
            return Err(GuestPathError::Root);
        }
        if rest.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(GuestPathError::NotNormalised(path.to_owned()));
        }
        Ok(Self(path.to_owned()))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GuestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for GuestPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GuestPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_absolute_paths() {
        for p in ["/workspace", "/a/b/c", "/data-1/x.y"] {
            assert_eq!(GuestPath::new(p).map(|g| g.to_string()), Ok(p.to_owned()));
        }
    }

    #[test]
    fn rejects_everything_else_with_a_named_reason() {
        let cases = [
            ("workspace", "not absolute"),
            ("/", "`/` is not allowed"),
            ("/a/../etc", "not normalised"),
            ("/a/./b", "not normalised"),
            ("/a//b", "not normalised"),
            ("/a/", "not normalised"),
            ("/..", "not normalised"),
            ("/a\\b", "forbidden character"),
            ("/a\0b", "forbidden character"),
        ];
        for (input, expected) in cases {
            let err = GuestPath::new(input).expect_err(input).to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }
}
