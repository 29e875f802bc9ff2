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

fn artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir).expect("read cache").map(|e| e.expect("entry").path()).collect()
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
    let err = Runtime::new(RuntimeConfig {
        max_concurrent_calls: 1,
        cache_dir: Some(dir.path().into()),
        ..Default::default()
    })
    .err()
    .expect("refused");
    assert!(matches!(err, RuntimeError::Cache { .. }), "{err}");
    assert!(err.to_string().contains("writable by group or others"), "{err}");
}
