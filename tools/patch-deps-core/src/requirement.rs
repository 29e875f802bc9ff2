//! Raising a version requirement while keeping its operator.

use crate::version::Version;

/// The requirement that asks for `to` the way `old` asked for the old
/// version: `1.4` → `1.6.1`, `^4.17.15` → `^4.17.21`, `~1.2.5` → `~1.2.6`,
/// `=1.0.0` → `=1.0.1`, `>=2.0` → `>=2.1.0`. A requirement that is not a
/// single version (a range, a wildcard, a tag, a URL) is not rewritten:
/// `None`, and the caller reports it for a human.
pub(crate) fn raise(old: &str, to: &Version) -> Option<String> {
    let trimmed = old.trim();
    let (operator, version) = ["==", ">=", "=", "^", "~"]
        .iter()
        .find_map(|op| trimmed.strip_prefix(op).map(|rest| (*op, rest.trim_start())))
        .unwrap_or(("", trimmed));
    let release = version.split(['-', '+']).next().unwrap_or_default();
    let single = release.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    single.then(|| format!("{operator}{to}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Ecosystem;

    #[test]
    fn operators_are_kept_and_ranges_refused() {
        let to = Ecosystem::Npm.parse("4.17.21").expect("version");
        assert_eq!(raise("4.17.15", &to).as_deref(), Some("4.17.21"));
        assert_eq!(raise("^4.17.15", &to).as_deref(), Some("^4.17.21"));
        assert_eq!(raise("~4.17", &to).as_deref(), Some("~4.17.21"));
        assert_eq!(raise("=4.17.15", &to).as_deref(), Some("=4.17.21"));
        assert_eq!(raise(">= 4.0", &to).as_deref(), Some(">=4.17.21"));
        for refused in [">=4, <5", "4.x", "*", "latest", "git+https://x/y.git", "", "1 || 2"] {
            assert_eq!(raise(refused, &to), None, "{refused}");
        }
    }
}
