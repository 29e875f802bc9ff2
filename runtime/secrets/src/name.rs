//! Secret names.

use crate::StoreError;

/// Checks a secret name: 1 to 64 characters of ASCII letters, digits, `_`,
/// `-` and `.`, starting with a letter or `_` (such as `GITHUB_TOKEN`).
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(StoreError::BadName(name.escape_default().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["GITHUB_TOKEN", "npm.token", "_x", "a-b"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1TOKEN", "a b", "../x", "x/y", &"A".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
