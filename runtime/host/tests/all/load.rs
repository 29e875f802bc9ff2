//! What `Runtime::load` rejects, and traps.

use std::path::Path;

use airlock_host::{CallError, LoadError};
use airlock_policy::Limits;
use airlock_test_artifacts as programs;

use crate::fixture::{grants, runtime, tool};

async fn load_err(bytes: &[u8]) -> LoadError {
    match runtime().load_bytes(bytes).await {
        Ok(tool) => panic!("loaded `{}` but it must be rejected", tool.info().name),
        Err(e) => e,
    }
}

async fn load_file_err(path: &str) -> LoadError {
    match runtime().load(Path::new(path)).await {
        Ok(tool) => panic!("loaded `{}` but it must be rejected", tool.info().name),
        Err(e) => e,
    }
}

#[tokio::test]
pub(crate) async fn echo() {
    let tool = tool(programs::ECHO).await;
    assert_eq!(tool.info().name, "echo");
    assert!(tool.imports().iter().any(|i| i == "airlock:tool/types@0.1.0"), "{:?}", tool.imports());
    let outcome = tool.call(&grants(&tool, &[], &[], Limits::default()), "[1,2]").await.expect("call");
    assert_eq!(outcome.result.as_deref(), Ok("[1,2]"));
}

#[tokio::test]
async fn not_wasm_is_rejected() {
    let err = load_err(b"#!/bin/sh\necho hi\n").await;
    assert!(matches!(err, LoadError::NotWasm), "{err}");
    assert!(err.to_string().starts_with("not a WebAssembly binary"), "{err}");
}

#[tokio::test]
async fn core_module_is_rejected() {
    let err = load_err(b"\0asm\x01\0\0\0").await;
    assert!(matches!(err, LoadError::CoreModule), "{err}");
    assert!(err.to_string().contains("core WebAssembly module, not a component"), "{err}");
}

#[tokio::test]
async fn other_binary_versions_are_rejected() {
    let err = load_err(b"\0asm\x0e\0\x01\0").await;
    assert!(matches!(err, LoadError::UnsupportedVersion(0x0001_000e)), "{err}");
}

/// An import airlock does not provide is refused at load, naming it:
/// nothing a component asks for is silently stubbed. (What is provided
/// beyond the `tool` world, for the language runtimes, is in the README:
/// `wasi:cli/terminal-*`, answering "no terminal", and `wasi:sockets`,
/// off unless a socket grant names the address.)
#[tokio::test]
async fn an_import_airlock_does_not_provide_is_refused_naming_it() {
    let component = wat::parse_str(
        r#"(component
             (import "wasi:keyvalue/store@0.2.0-draft" (instance (export "ping" (func))))
           )"#,
    )
    .expect("component text");
    let err = load_err(&component).await;
    assert!(matches!(err, LoadError::UnknownImport(_)), "{err}");
    let message = err.to_string();
    assert!(message.starts_with("component imports something airlock does not provide: "), "{message}");
    assert!(message.contains("wasi:keyvalue/store@0.2.0-draft"), "names the import: {message}");
}

#[tokio::test]
async fn corrupt_component_is_rejected() {
    let mut bytes = std::fs::read(programs::ECHO).expect("read echo");
    bytes.truncate(bytes.len() / 2);
    let err = load_err(&bytes).await;
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
    assert!(err.to_string().starts_with("invalid component: "), "{err}");
}

#[tokio::test]
async fn missing_file_is_a_read_error() {
    let err = load_file_err("/definitely/not/a/tool.wasm").await;
    assert!(matches!(err, LoadError::Read { .. }), "{err}");
    assert!(err.to_string().contains("cannot read tool `/definitely/not/a/tool.wasm`"), "{err}");
}

#[tokio::test]
pub(crate) async fn not_a_tool() {
    let err = load_file_err(programs::NOT_A_TOOL).await;
    assert!(matches!(err, LoadError::WrongWorld(_)), "{err}");
    assert!(err.to_string().contains("does not implement the airlock:tool@0.1.0 world"), "{err}");
}

#[tokio::test]
pub(crate) async fn trap_in_describe() {
    let err = load_file_err(programs::TRAP_IN_DESCRIBE).await;
    assert!(matches!(err, LoadError::Describe(_)), "{err}");
    assert!(err.to_string().contains("deliberate panic in describe"), "{err}");
}

#[tokio::test]
pub(crate) async fn bad_description() {
    let err = load_file_err(programs::BAD_DESCRIPTION).await;
    assert!(matches!(err, LoadError::BadDescription(_)), "{err}");
    assert!(err.to_string().contains("guest path `workspace/../etc` is not absolute"), "{err}");
}

#[tokio::test]
pub(crate) async fn trap_in_invoke() {
    let trap = tool(programs::TRAP_IN_INVOKE).await;
    let none = grants(&trap, &[], &[], Limits::default());
    for _ in 0..2 {
        let err = trap.call(&none, "{}").await.expect_err("must trap");
        assert!(matches!(err, CallError::Trap(_)), "{err}");
        assert!(err.to_string().contains("deliberate panic in invoke"), "{err}");
    }
    // Other tools are unaffected.
    let echo = tool(programs::ECHO).await;
    assert!(echo.call(&grants(&echo, &[], &[], Limits::default()), "1").await.expect("call").result.is_ok());
}
