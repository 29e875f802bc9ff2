//! Counting into maps keyed by text without allocating a key per record.

use std::collections::BTreeMap;

/// The value at `key`, inserted (default) when missing: a hit allocates
/// nothing.
pub(crate) fn slot<'a, V: Default>(map: &'a mut BTreeMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    match map.get_mut(key) {
        Some(value) => value,
        None => unreachable!("inserted just above"),
    }
}
