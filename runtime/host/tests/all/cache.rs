//! The compiled-artifact cache: hits are verified, anything wrong is
//! recompiled and never run.

use airlock_host::{Runtime, RuntimeConfig, RuntimeError};
use airlock_policy::Limits;
use airlock_test_artifacts as programs;

use crate::fixture::grants;

fn cached_runtime(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_calls: 2,
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .expect("runtime")
}

/// The compiled artifacts in a cache directory (beside them: `seal.key`).
fn artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("read cache")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

/// The note the loaded tool carries about the cache, after loading `wasm`.
async fn cache_note(rt: &Runtime, wasm: &[u8]) -> Option<String> {
    rt.load_bytes(wasm).await.expect("load").cache_note().map(str::to_owned)
}

fn refused(dir: &std::path::Path) -> RuntimeError {
    Runtime::new(RuntimeConfig { max_concurrent_calls: 1, cache_dir: Some(dir.into()), ..Default::default() })
        .err()
        .expect("refused")
}

async fn load_and_call(rt: &Runtime, wasm: &[u8]) -> bool {
    let tool = rt.load_bytes(wasm).await.expect("load");
    let outcome = tool.call(&grants(&tool, &[], &[], Limits::default()), "\"x\"").await.expect("call");
    assert_eq!(outcome.result.as_deref(), Ok("\"x\""));
    tool.from_cache()
}

#[tokio::test]
async fn second_load_is_a_verified_cache_hit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = std::fs::read(programs::ECHO).expect("echo");
    let rt = cached_runtime(dir.path());
    assert!(!load_and_call(&rt, &wasm).await, "first load compiles");
    assert_eq!(artifacts(dir.path()).len(), 1);
    assert!(load_and_call(&rt, &wasm).await, "second load uses the artifact");
    // A new runtime with the same settings shares it.
    assert!(load_and_call(&cached_runtime(dir.path()), &wasm).await);
}

#[tokio::test]
async fn corrupted_or_truncated_artifacts_are_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = std::fs::read(programs::ECHO).expect("echo");
    let rt = cached_runtime(dir.path());
    load_and_call(&rt, &wasm).await;
    let [artifact] = artifacts(dir.path()).try_into().expect("one artifact");

    let mut bytes = std::fs::read(&artifact).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).expect("corrupt");
    assert!(!load_and_call(&rt, &wasm).await, "a corrupted artifact must not be used");
    assert!(load_and_call(&rt, &wasm).await, "it was rewritten");

    std::fs::write(&artifact, b"short").expect("truncate");
    assert!(!load_and_call(&rt, &wasm).await, "a truncated artifact must not be used");

    // A well-formed artifact of another component under this component's name.
    let other = std::fs::read(programs::LOG_LINES).expect("log_lines");
    let other_rt = tempfile::tempdir().expect("tempdir");
    let rt2 = cached_runtime(other_rt.path());
    rt2.load_bytes(&other).await.expect("load");
    let [other_artifact] = artifacts(other_rt.path()).try_into().expect("one artifact");
    std::fs::copy(&other_artifact, &artifact).expect("swap");
    let tool = rt.load_bytes(&wasm).await.expect("load");
    assert_eq!(tool.info().name, "echo", "a swapped artifact ran instead of the component");
    assert!(!tool.from_cache(), "a swapped artifact must not be used");
    let note = tool.cache_note().expect("the operator is told");
    assert!(note.contains("not sealed by this user's key"), "{note}");
}

/// What runs is a private copy of the verified bytes: truncating or
/// rewriting the cached file in place while a tool loaded from it is
/// alive (and its instances' memory is kept warm for reuse) changes and
/// crashes nothing; the next load sees the damage and recompiles.
#[tokio::test]
async fn an_artifact_changed_in_place_under_a_loaded_tool_reaches_nothing_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = std::fs::read(programs::ECHO).expect("echo");
    let rt = cached_runtime(dir.path());
    assert!(!load_and_call(&rt, &wasm).await, "first load compiles");
    let tool = rt.load_bytes(&wasm).await.expect("load");
    assert!(tool.from_cache());
    let [artifact] = artifacts(dir.path()).try_into().expect("one artifact");
    let call = || async {
        let outcome = tool.call(&grants(&tool, &[], &[], Limits::default()), "\"x\"").await.expect("call");
        assert_eq!(outcome.result.as_deref(), Ok("\"x\""));
    };
    call().await;
    let length = std::fs::metadata(&artifact).expect("stat").len();
    std::fs::write(&artifact, b"short").expect("truncate in place");
    for _ in 0..3 {
        call().await;
    }
    std::fs::write(&artifact, vec![0xcc; usize::try_from(length).expect("size")]).expect("rewrite in place");
    for _ in 0..3 {
        call().await;
    }
    assert!(!load_and_call(&rt, &wasm).await, "the damaged artifact is not used");
    call().await;
}

/// The attack the keyed seal stops: someone who can write the cache
/// compiles their own component, puts the artifact under the victim's
/// name and recomputes every public hash. Without the user's key the seal
/// cannot be made, so the artifact never runs, and the operator is told.
#[tokio::test]
async fn an_artifact_resealed_without_the_users_key_never_runs_and_is_reported() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = std::fs::read(programs::ECHO).expect("echo");
    let rt = cached_runtime(dir.path());
    assert_eq!(cache_note(&rt, &wasm).await, None, "a first compile is nothing to report");
    let [artifact] = artifacts(dir.path()).try_into().expect("one artifact");
    let (digest, engine_key) = {
        let name = artifact.file_stem().and_then(|n| n.to_str()).expect("name").to_owned();
        let (digest, engine) = name.split_once('-').expect("digest-engine");
        (digest.to_owned(), engine.to_owned())
    };
    // The hostile program, compiled by the same engine in another cache.
    let other_dir = tempfile::tempdir().expect("tempdir");
    cached_runtime(other_dir.path())
        .load_bytes(&std::fs::read(programs::LOG_LINES).expect("wasm"))
        .await
        .expect("load");
    let [hostile] = artifacts(other_dir.path()).try_into().expect("one artifact");
    let hostile = std::fs::read(hostile).expect("read");
    let code = &hostile[..hostile.len() - 32];
    // A seal anyone can compute: sha256 over the public inputs.
    let public_seal = |domain: &[u8]| {
        Sha256::new()
            .chain_update(domain)
            .chain_update(digest.as_bytes())
            .chain_update(b"\0")
            .chain_update(engine_key.as_bytes())
            .chain_update(b"\0")
            .chain_update(code)
            .finalize()
            .to_vec()
    };
    // The old, unkeyed format, and the same with this format's domain.
    for seal in [public_seal(b"airlock-artifact-v1\0"), public_seal(b"airlock-artifact-v2\0")] {
        std::fs::write(&artifact, [code, &seal].concat()).expect("plant");
        let tool = rt.load_bytes(&wasm).await.expect("load");
        assert_eq!(tool.info().name, "echo", "the planted artifact ran");
        assert!(!tool.from_cache());
        let note = tool.cache_note().expect("reported");
        assert!(note.contains("not sealed by this user's key") && note.contains("recompiled"), "{note}");
    }
    assert!(load_and_call(&rt, &wasm).await, "the recompiled artifact replaced it");
}

#[tokio::test]
async fn a_cache_dir_another_account_owns_is_refused_even_without_write_bits() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("theirs");
    std::fs::create_dir(&dir).expect("mkdir");
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&dir).expect("stat")) != 0 {
        eprintln!("skipped: only root can give a directory to another account (CI runs as root)");
        return;
    }
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let err = refused(&dir);
    assert!(matches!(err, RuntimeError::Cache { .. }), "{err}");
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
}

#[tokio::test]
async fn a_cache_dir_under_a_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = refused(&parent.path().join("artifacts"));
    assert!(err.to_string().contains("a parent directory with mode 777"), "{err}");
    // Sticky (like /tmp) is fine: others cannot replace what they do not own.
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    cached_runtime(&parent.path().join("artifacts"));
}

#[tokio::test]
async fn a_readable_or_foreign_seal_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    cached_runtime(dir.path());
    let key = dir.path().join("seal.key");
    assert_eq!(std::fs::metadata(&key).expect("key").permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = refused(dir.path());
    assert!(err.to_string().contains("it must be 0600"), "{err}");
}

#[tokio::test]
async fn a_new_cache_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("artifacts");
    cached_runtime(&dir);
    let mode = std::fs::metadata(&dir).expect("created").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "cache dir mode {mode:o}");
}

#[tokio::test]
async fn world_writable_cache_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = refused(dir.path());
    assert!(matches!(err, RuntimeError::Cache { .. }), "{err}");
    assert!(err.to_string().contains("mode 777 lets other accounts write"), "{err}");
}
