//! Limits end a call with an error naming the limit, and the runtime keeps
//! serving afterwards.

use std::time::Duration;

use airlock_host::{CallError, LimitExceeded};
use airlock_policy::Limits;
use airlock_test_artifacts as programs;
use serde_json::json;

use crate::fixture::{grants, output, tool};

/// After a limit, the runtime must still serve an ordinary call.
async fn still_serving() {
    let echo = tool(programs::ECHO).await;
    let outcome = echo.call(&grants(&echo, &[], &[], Limits::default()), "{\"ok\":1}").await.expect("call");
    assert_eq!(outcome.result.as_deref(), Ok("{\"ok\":1}"));
}

#[tokio::test]
pub(crate) async fn limit_infinite_loop() {
    let tool = tool(programs::LIMIT_INFINITE_LOOP).await;
    let limits = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let err = tool.call(&grants(&tool, &[], &[], limits), "{}").await.expect_err("must time out");
    assert!(
        matches!(err, CallError::Limit(LimitExceeded::Timeout(d)) if d == Duration::from_millis(300)),
        "{err}"
    );
    assert_eq!(err.to_string(), "timeout after 300ms");
    still_serving().await;
}

#[tokio::test]
pub(crate) async fn limit_memory_bomb() {
    let tool = tool(programs::LIMIT_MEMORY_BOMB).await;
    let limits = Limits { memory_bytes: 32 << 20, ..Limits::default() };
    let err = tool.call(&grants(&tool, &[], &[], limits), "{}").await.expect_err("must hit the memory limit");
    assert!(matches!(err, CallError::Limit(LimitExceeded::Memory(m)) if m == 32 << 20), "{err}");
    assert_eq!(err.to_string(), "memory limit 32 MiB exceeded");
    // A tool that copes with the refusal and fails on its own terms (as
    // Python's MemoryError does) still ended at the memory limit.
    let graceful = tool.call(&grants(&tool, &[], &[], limits), r#"{"graceful": true}"#).await;
    let err = graceful.expect_err("a failure after a refused growth is the memory limit");
    assert_eq!(err.to_string(), "memory limit 32 MiB exceeded");
    still_serving().await;
}

#[tokio::test]
pub(crate) async fn limit_deep_recursion() {
    let tool = tool(programs::LIMIT_DEEP_RECURSION).await;
    let err = tool.call(&grants(&tool, &[], &[], Limits::default()), "{}").await.expect_err("must overflow");
    assert!(matches!(err, CallError::Limit(LimitExceeded::Stack)), "{err}");
    still_serving().await;
}

#[tokio::test]
pub(crate) async fn limit_stdout_flood() {
    let tool = tool(programs::LIMIT_STDOUT_FLOOD).await;
    let limits = Limits { timeout: Duration::from_secs(60), ..Limits::default() };
    let outcome = tool.call(&grants(&tool, &[], &[], limits), "{}").await.expect("call");
    // Every write succeeded for the guest...
    let out = output(&outcome);
    let written = out["stdout_bytes"].as_u64().expect("count");
    assert!(written >= 100_000_000, "{out}");
    // ...and the host kept exactly the cap, a prefix, and flagged the rest.
    let cap = limits.stdio_bytes;
    assert_eq!(outcome.stdout.bytes.len() as u64, cap);
    assert!(outcome.stdout.bytes.starts_with(b"FIRST LINE\n"));
    assert!(outcome.stdout.bytes[11..].iter().all(|&b| b == b'x'));
    assert_eq!(outcome.stdout.dropped, written - cap);
    assert!(outcome.stdout.truncated());
    assert_eq!(outcome.stderr.bytes.len() as u64, cap);
    assert_eq!(outcome.stderr.dropped, 16 * 65536 - cap);
}

#[tokio::test]
pub(crate) async fn limit_output_too_large() {
    let tool = tool(programs::LIMIT_OUTPUT_TOO_LARGE).await;
    let none = grants(&tool, &[], &[], Limits::default());
    let err = tool.call(&none, "{}").await.expect_err("2 MiB result over a 1 MiB limit");
    assert!(
        matches!(err, CallError::Limit(LimitExceeded::Output { limit, .. }) if limit == 1 << 20),
        "{err}"
    );
    assert!(err.to_string().starts_with("output limit 1 MiB exceeded"), "{err}");
    let small = json!({ "bytes": 10 }).to_string();
    let outcome = tool.call(&none, &small).await.expect("call");
    assert_eq!(outcome.result.as_deref(), Ok("\"yyyyyyyyyy\""));
}

#[tokio::test]
async fn out_of_range_limits_are_refused_before_running() {
    let tool = tool(programs::ECHO).await;
    let limits = Limits { memory_bytes: 8 << 30, ..Limits::default() };
    let err = tool.call(&grants(&tool, &[], &[], limits), "{}").await.expect_err("over the runtime maximum");
    assert!(err.to_string().contains("memory limit 8589934592 bytes is outside the allowed range"), "{err}");
    for (limits, message) in [
        (
            Limits { handles: 10, ..Limits::default() },
            "handles limit 10 is outside the allowed range 64..=65536",
        ),
        (
            Limits { open_files: 0, ..Limits::default() },
            "open_files limit 0 is outside the allowed range 1..=4096",
        ),
        (
            Limits { output_bytes: 0, ..Limits::default() },
            "output limit 0 is outside the allowed range 1..=1073741824",
        ),
    ] {
        let err = tool.call(&grants(&tool, &[], &[], limits), "{}").await.expect_err("refused");
        assert_eq!(err.to_string(), format!("invalid limits: {message}"));
    }
}

#[tokio::test]
async fn a_full_pool_reports_busy_and_recovers() {
    use airlock_host::{Runtime, RuntimeConfig};
    let rt =
        Runtime::new(RuntimeConfig { max_concurrent_calls: 1, ..RuntimeConfig::default() }).expect("runtime");
    let spin = rt.load(std::path::Path::new(programs::LIMIT_INFINITE_LOOP)).await.expect("load");
    let echo = rt.load(std::path::Path::new(programs::ECHO)).await.expect("load");
    let limits = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let spin_grants = grants(&spin, &[], &[], limits);
    let spinning = spin.call(&spin_grants, "{}");
    let second = async {
        // Let the spinning call take the only slot first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        echo.call(&grants(&echo, &[], &[], Limits::default()), "1").await
    };
    let (first, second) = tokio::join!(spinning, second);
    assert!(matches!(first, Err(CallError::Limit(LimitExceeded::Timeout(_)))), "{first:?}");
    let err = second.expect_err("no slot was free");
    assert!(matches!(err, CallError::Busy(_)), "{err}");
    assert!(err.to_string().starts_with("runtime busy: maximum concurrent limit of 1"), "{err}");
    // The slot is free again.
    let outcome = echo.call(&grants(&echo, &[], &[], Limits::default()), "1").await.expect("call");
    assert_eq!(outcome.result.as_deref(), Ok("1"));
}

#[tokio::test]
async fn deadlines_hold_after_the_runtime_is_dropped() {
    use airlock_host::{Runtime, RuntimeConfig};
    let rt =
        Runtime::new(RuntimeConfig { max_concurrent_calls: 1, ..RuntimeConfig::default() }).expect("runtime");
    let spin = rt.load(std::path::Path::new(programs::LIMIT_INFINITE_LOOP)).await.expect("load");
    drop(rt);
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let err = spin.call(&grants(&spin, &[], &[], limits), "{}").await.expect_err("must time out");
    assert!(matches!(err, CallError::Limit(LimitExceeded::Timeout(_))), "{err}");
}

/// A tool that keeps making handles that are only host memory (timers):
/// the call ends at the handle budget with a limit (exit 4 from the CLI),
/// never a trap. Four of them at once, with echo calls running beside
/// them on the same runtime: every other call succeeds while they flood,
/// so one call's exhausted budget does not degrade the others. A lower
/// budget is the one named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn limit_handle_flood() {
    let flood = tool(programs::LIMIT_HANDLE_FLOOD).await;
    let flood_grants = grants(&flood, &[], &[], Limits::default());
    let floods: Vec<_> = (0..4)
        .map(|_| {
            let (flood, grants) = (flood.clone(), flood_grants.clone());
            tokio::spawn(async move { flood.call(&grants, "{}").await })
        })
        .collect();
    for _ in 0..20 {
        still_serving().await;
    }
    for flood in floods {
        let err = flood.await.expect("join").expect_err("must hit the handle limit");
        assert!(matches!(err, CallError::Limit(LimitExceeded::Handles(4096))), "{err}");
        assert!(err.to_string().starts_with("host resources limit: more than 4096 handles"), "{err}");
    }
    let lower = grants(&flood, &[], &[], Limits { handles: 100, ..Limits::default() });
    let err = flood.call(&lower, "{}").await.expect_err("must hit the lower limit");
    assert!(matches!(err, CallError::Limit(LimitExceeded::Handles(100))), "{err}");
    still_serving().await;
}

/// Grants for the descriptor flood: the workspace and loopback sockets.
fn descriptor_grants(
    tool: &airlock_host::LoadedTool,
    tree: &crate::fixture::Tree,
    limits: Limits,
) -> airlock_policy::GrantSet {
    use airlock_policy::{Methods, NetGrant, Offer, OfferedMount, resolve};
    let offer = Offer {
        mounts: vec![OfferedMount {
            host: tree.workspace.clone(),
            guest: airlock_policy::GuestPath::new("/workspace").expect("guest path"),
            access: airlock_policy::Access::ReadOnly,
        }],
        hosts: vec![NetGrant {
            destination: "tcp://127.0.0.1:9".parse().expect("destination"),
            methods: Methods::standard(),
        }],
        limits,
        ..Offer::default()
    };
    resolve(&tool.info().name, &tool.info().capabilities, &offer).expect("grants resolve")
}

/// A tool that keeps files open, or TCP sockets, until something gives:
/// the call ends at its descriptor budget (`open_files`) with a limit, not
/// a generic I/O error, while a file read and echo calls beside it on the
/// same runtime succeed. Closing a file gives its descriptor back: opening
/// and closing 2,000 files in turn stays within 256.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn limit_descriptor_flood() {
    let tree = crate::fixture::Tree::new();
    let flood = tool(programs::LIMIT_DESCRIPTOR_FLOOD).await;
    let reader = tool(programs::FS_READ_GRANTED).await;
    let flood_grants = descriptor_grants(&flood, &tree, Limits::default());
    let floods: Vec<_> = ["files", "sockets", "files", "sockets"]
        .into_iter()
        .map(|kind| {
            let (flood, grants) = (flood.clone(), flood_grants.clone());
            tokio::spawn(async move { flood.call(&grants, &json!({ "kind": kind }).to_string()).await })
        })
        .collect();
    for _ in 0..10 {
        still_serving().await;
    }
    let read_grants = crate::fixture::workspace(&reader, &tree, airlock_policy::Access::ReadOnly);
    let read = reader
        .call(&read_grants, r#"{"path":"/workspace/hello.txt"}"#)
        .await
        .expect("a read beside the floods");
    assert!(read.result.is_ok(), "{:?}", read.result);
    for flood in floods {
        let err = flood.await.expect("join").expect_err("must hit the descriptor limit");
        assert!(matches!(err, CallError::Limit(LimitExceeded::OpenFiles(256))), "{err}");
        assert_eq!(
            err.to_string(),
            "file descriptors limit: more than 256 files, directories and sockets open at once"
        );
    }
    let churn = flood.call(&flood_grants, r#"{"kind":"churn"}"#).await.expect("churn completes");
    assert_eq!(output(&churn)["opened"], 2000, "{:?}", churn.result);
    let lower = descriptor_grants(&flood, &tree, Limits { open_files: 3, ..Limits::default() });
    let err = flood.call(&lower, r#"{"kind":"files"}"#).await.expect_err("must hit the lower limit");
    assert!(matches!(err, CallError::Limit(LimitExceeded::OpenFiles(3))), "{err}");
    still_serving().await;
}

/// A tool that builds HTTP headers (each `fields` object under the 32 KiB
/// cap) or requests with long paths and authorities, and keeps them,
/// through each of the six ways to put such bytes in the host: the call
/// ends at its header budget, 1 MiB by default, and a lower budget is the
/// one named.
#[tokio::test]
pub(crate) async fn limit_header_flood() {
    let flood = tool(programs::LIMIT_HEADER_FLOOD).await;
    let defaults = grants(&flood, &[], &[], Limits::default());
    for via in ["from-list", "append", "set", "clone", "path", "authority"] {
        let err =
            flood.call(&defaults, &json!({ "via": via }).to_string()).await.expect_err("must hit the limit");
        assert!(matches!(err, CallError::Limit(LimitExceeded::Headers(n)) if n == 1 << 20), "{via}: {err}");
        assert_eq!(err.to_string(), "host resources limit: HTTP headers built over 1 MiB in one call");
    }
    let mut limits = Limits::default();
    limits.net.header_bytes = 64 << 10;
    let lower = grants(&flood, &[], &[], limits);
    let err = flood.call(&lower, r#"{"via":"append"}"#).await.expect_err("must hit the lower limit");
    assert_eq!(err.to_string(), "host resources limit: HTTP headers built over 64 KiB in one call");
    still_serving().await;
}
