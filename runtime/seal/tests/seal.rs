//! Private directories refuse what another account could write, and a
//! sealed file nobody with the key wrote is refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use airlock_seal::{PrivateDir, SealError, SealKey};

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_new_private_dir_is_created_0700_and_accepted() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = PrivateDir::open(&base.path().join("a/b/state")).expect("private dir");
    let mode = std::fs::metadata(dir.path()).expect("stat").mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_dir_others_can_write_is_refused_naming_its_mode() {
    let base = tempfile::tempdir().expect("tempdir");
    let state = base.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    chmod(&state, 0o777);
    let error = PrivateDir::open(&state).expect_err("world-writable");
    assert!(matches!(error, SealError::Untrusted { .. }), "{error}");
    assert!(error.to_string().contains("mode 777"), "{error}");
}

#[test]
fn a_parent_others_can_write_is_refused_unless_sticky() {
    let base = tempfile::tempdir().expect("tempdir");
    let parent = base.path().join("shared");
    std::fs::create_dir(&parent).expect("mkdir");
    chmod(&parent, 0o777);
    let error = PrivateDir::open(&parent.join("state")).expect_err("group/other-writable parent");
    assert!(error.to_string().contains("parent directory with mode 777"), "{error}");
    chmod(&parent, 0o1777);
    PrivateDir::open(&parent.join("state"))
        .expect("a sticky parent (like /tmp) cannot be used to swap our directory");
}

#[test]
fn a_symlink_to_a_private_dir_is_followed_only_to_a_checked_target() {
    let base = tempfile::tempdir().expect("tempdir");
    let open = base.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    chmod(&open, 0o777);
    std::os::unix::fs::symlink(&open, base.path().join("link")).expect("symlink");
    let error = PrivateDir::open(&base.path().join("link")).expect_err("the target is world-writable");
    assert!(error.to_string().contains("open"), "the message names the real directory: {error}");
}

#[test]
fn a_dir_owned_by_another_account_is_refused() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: only root can make a directory another account owns");
        return;
    }
    let base = tempfile::tempdir().expect("tempdir");
    let state = base.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    chmod(&state, 0o755);
    std::os::unix::fs::chown(&state, Some(4242), Some(4242)).expect("chown");
    let error = PrivateDir::open(&state).expect_err("another uid owns it");
    assert!(error.to_string().contains("owned by uid 4242"), "{error}");
}

#[test]
fn sealed_bytes_round_trip_and_any_change_or_other_key_is_refused() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = PrivateDir::open(&base.path().join("state")).expect("private dir");
    let key = SealKey::load_or_create(&dir).expect("key");
    assert_eq!(std::fs::metadata(dir.join("seal.key")).expect("stat").mode() & 0o777, 0o600);
    let again = SealKey::load_or_create(&dir).expect("the same key, loaded");
    let sealed = key.seal(b"{\"ops\":[]}");
    let path = std::path::Path::new("journal.json");
    assert_eq!(again.unseal(&sealed, path).expect("verifies"), b"{\"ops\":[]}");

    let mut altered = sealed.clone();
    let last = altered.len() - 2;
    altered[last] ^= 1;
    let error = key.unseal(&altered, path).expect_err("altered");
    assert!(matches!(error, SealError::BadSeal { .. }), "{error}");
    assert!(error.to_string().contains("journal.json"), "{error}");
    let other = SealKey::from_bytes([7; 32]);
    assert!(other.unseal(&sealed, path).is_err(), "another user's key does not verify it");
    assert!(key.unseal(b"{\"ops\":[]}", path).is_err(), "an unsealed file is refused");
    let forged = format!("airlock-seal-v1 {}\n{{}}", hex_of_sha256(b"{}"));
    assert!(key.unseal(forged.as_bytes(), path).is_err(), "a plain hash of public bytes is no seal");
}

/// A streamed tag does not depend on how the data was cut into pieces,
/// and verifies only the same bytes under the same key.
#[test]
fn a_streamed_tag_is_the_same_however_the_data_is_cut_and_binds_every_byte() {
    let key = SealKey::from_bytes([3; 32]);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let whole = {
        let mut stream = key.stream();
        stream.update(&data);
        stream.finish()
    };
    let mut pieces = key.stream();
    for piece in data.chunks(4_099) {
        pieces.update(piece);
    }
    assert!(pieces.verifies(&whole), "the same bytes in other pieces");
    let mut altered = data.clone();
    altered[77_777] ^= 0x40;
    let mut stream = key.stream();
    stream.update(&altered);
    assert!(!stream.verifies(&whole), "one changed byte");
    let mut other = SealKey::from_bytes([4; 32]).stream();
    other.update(&data);
    assert!(!other.verifies(&whole), "another key");
    let mut short = key.stream();
    short.update(&data);
    assert!(!short.verifies(&whole[..31]), "a truncated tag");
}

fn hex_of_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = PrivateDir::open(&base.path().join("state")).expect("private dir");
    SealKey::load_or_create(&dir).expect("key");
    chmod(&dir.join("seal.key"), 0o644);
    let error = SealKey::load_or_create(&dir).expect_err("readable by others");
    assert!(error.to_string().contains("mode 644"), "{error}");
}

/// Processes starting at once on a fresh directory (an MCP server and a
/// `run`, say) all get the one key: none reads a key file another is still
/// writing.
#[test]
fn a_key_created_by_many_at_once_is_one_key_and_none_fails() {
    for _ in 0..50 {
        let base = tempfile::tempdir().expect("tempdir");
        let dir = PrivateDir::open(&base.path().join("state")).expect("private dir");
        let keys: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| SealKey::load_or_create(&dir))).collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let tags: Vec<String> = keys
            .into_iter()
            .map(|key| key.expect("every one loads or creates the key").tag(b"same"))
            .collect();
        assert!(tags.windows(2).all(|pair| pair[0] == pair[1]), "one key for all: {tags:?}");
    }
}
