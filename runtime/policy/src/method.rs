//! HTTP methods a destination grant allows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The methods a grant allows when none are named: every common method
/// except `CONNECT` (tunnelling) and `TRACE` (echoes request headers).
pub const STANDARD_METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

/// A set of HTTP methods: uppercase, sorted, without duplicates, never
/// empty. Methods compare exactly (HTTP methods are case-sensitive), so a
/// guest sending `get` is not sending `GET`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Methods(Vec<String>);

/// A method list that cannot be granted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MethodError {
    /// Not an HTTP token, or not uppercase.
    #[error("`{0}` is not an HTTP method (expected uppercase letters, such as GET)")]
    Invalid(String),
    /// `CONNECT` opens a tunnel the host cannot inspect.
    #[error("CONNECT cannot be granted: a tunnel would bypass every destination check")]
    Connect,
}

impl Methods {
    /// [`STANDARD_METHODS`].
    pub fn standard() -> Self {
        Self(STANDARD_METHODS.iter().map(|m| (*m).to_owned()).collect())
    }

    /// Parses a list; an empty list means [`Methods::standard`].
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, MethodError> {
        if list.is_empty() {
            return Ok(Self::standard());
        }
        let mut methods = Vec::with_capacity(list.len());
        for method in list {
            let method = method.as_ref();
            if method.is_empty() || method.len() > 32 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(MethodError::Invalid(method.to_owned()));
            }
            if method == "CONNECT" {
                return Err(MethodError::Connect);
            }
            methods.push(method.to_owned());
        }
        methods.sort();
        methods.dedup();
        Ok(Self(methods))
    }

    /// Whether `method` is in the set.
    pub fn allows(&self, method: &str) -> bool {
        self.0.iter().any(|m| m == method)
    }

    /// The methods in both sets, or `None` if there are none.
    pub fn intersect(&self, other: &Methods) -> Option<Methods> {
        let both: Vec<String> = self.0.iter().filter(|m| other.allows(m)).cloned().collect();
        (!both.is_empty()).then_some(Self(both))
    }

    /// The methods in either set.
    pub fn union(&self, other: &Methods) -> Methods {
        let mut all: Vec<String> = self.0.iter().chain(&other.0).cloned().collect();
        all.sort();
        all.dedup();
        Self(all)
    }

    /// The methods, sorted.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl Default for Methods {
    fn default() -> Self {
        Self::standard()
    }
}

impl TryFrom<Vec<String>> for Methods {
    type Error = MethodError;

    fn try_from(list: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse(&list)
    }
}

impl From<Methods> for Vec<String> {
    fn from(methods: Methods) -> Self {
        methods.0
    }
}

impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_standard_and_lists_normalise() {
        assert_eq!(Methods::parse::<&str>(&[]), Ok(Methods::standard()));
        let m = Methods::parse(&["HEAD", "GET", "GET"]).expect("valid");
        assert_eq!(m.as_slice(), ["GET", "HEAD"]);
        assert!(m.allows("GET") && !m.allows("get") && !m.allows("POST"));
    }

    #[test]
    fn bad_methods_are_named() {
        assert_eq!(Methods::parse(&["get"]), Err(MethodError::Invalid("get".into())));
        assert_eq!(Methods::parse(&["G ET"]), Err(MethodError::Invalid("G ET".into())));
        assert_eq!(Methods::parse(&["CONNECT"]), Err(MethodError::Connect));
    }

    #[test]
    fn intersect_and_union() {
        let get_head = Methods::parse(&["GET", "HEAD"]).expect("valid");
        let post = Methods::parse(&["POST"]).expect("valid");
        assert_eq!(get_head.intersect(&Methods::standard()), Some(get_head.clone()));
        assert_eq!(get_head.intersect(&post), None);
        assert_eq!(get_head.union(&post).as_slice(), ["GET", "HEAD", "POST"]);
    }
}
