//! The file store: round trips, persistence, and every refusal by name.

use std::os::unix::fs::PermissionsExt;

use airlock_secrets::{
    AgeFileStore, ExposeSecret, KEY_FILE, STORE_FILE, SecretStore, SecretString, StoreError,
};

const VALUE: &str = "ghp_STORE-CANARY-0123456789abcdef";

fn store_with_token(dir: &std::path::Path) -> AgeFileStore {
    let mut store = AgeFileStore::init(dir).expect("init");
    store.set("GITHUB_TOKEN", SecretString::from(VALUE)).expect("set");
    store
}

#[test]
fn values_round_trip_and_persist_and_list_shows_no_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets");
    drop(store_with_token(&path));
    let mut store = AgeFileStore::open(&path).expect("open");
    assert_eq!(
        store.get("GITHUB_TOKEN").expect("get").map(|v| v.expose_secret().to_owned()),
        Some(VALUE.into())
    );
    assert!(store.get("OTHER").expect("get").is_none());
    let listed = store.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].bytes), ("GITHUB_TOKEN", VALUE.len()));
    assert!(!format!("{listed:?}{store:?}").contains(VALUE));
    assert!(store.remove("GITHUB_TOKEN").expect("remove"));
    assert!(!store.remove("GITHUB_TOKEN").expect("remove twice"));
    assert!(AgeFileStore::open(&path).expect("reopen").list().expect("list").is_empty());
}

#[test]
fn the_file_is_unreadable_without_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets");
    drop(store_with_token(&path));
    let bytes = std::fs::read(path.join(STORE_FILE)).expect("read");
    assert!(bytes.starts_with(b"age-encryption.org/v1"), "an age file");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("GITHUB_TOKEN")
            && !String::from_utf8_lossy(&bytes).contains(VALUE)
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(
        (mode(&path), mode(&path.join(KEY_FILE)), mode(&path.join(STORE_FILE))),
        (0o700, 0o600, 0o600)
    );
}

#[test]
fn a_wrong_key_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    drop(store_with_token(&a));
    drop(AgeFileStore::init(&b).expect("init b"));
    std::fs::copy(b.join(KEY_FILE), a.join(KEY_FILE)).expect("swap the key");
    let err = AgeFileStore::open(&a).expect_err("wrong key").to_string();
    assert!(err.contains("does not open the secret store") && err.contains(KEY_FILE), "{err}");
}

#[test]
fn bad_setups_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets");
    assert!(matches!(AgeFileStore::open(&path), Err(StoreError::NotInitialised(_))));
    drop(store_with_token(&path));
    assert!(matches!(AgeFileStore::init(&path), Err(StoreError::Exists(_))), "init never overwrites a key");

    std::fs::set_permissions(path.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = AgeFileStore::open(&path).expect_err("exposed key").to_string();
    assert!(err.contains("accessible by group or others") && err.contains("600"), "{err}");
    std::fs::set_permissions(path.join(KEY_FILE), std::fs::Permissions::from_mode(0o600)).expect("chmod");

    std::fs::write(path.join(STORE_FILE), b"not an age file").expect("write");
    let err = AgeFileStore::open(&path).expect_err("corrupt").to_string();
    assert!(err.contains("is unreadable"), "{err}");

    std::fs::write(path.join(KEY_FILE), "AGE-SECRET-KEY-1NOPE\n").expect("write");
    let err = AgeFileStore::open(&path).expect_err("bad key").to_string();
    assert!(err.contains("is not an age X25519 identity"), "{err}");

    let mut fresh = AgeFileStore::init(&dir.path().join("fresh")).expect("init");
    let err = fresh.set("no spaces", SecretString::from("x")).expect_err("bad name").to_string();
    assert!(err.contains("`no spaces` is not a secret name"), "{err}");
}
