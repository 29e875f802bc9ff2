//! Used by build scripts (`tools/bundle`, `tests/artifacts`) to build guest
//! crates of this workspace for `wasm32-wasip2`.
//!
//! The nested cargo uses its own target directory (`target/guests`) so it
//! never waits on the outer build's lock and stays incremental across runs.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, from a build script's `CARGO_MANIFEST_DIR` two
/// levels below it.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).expect("guest crates are two levels deep").to_path_buf()
}

/// The cargo profile guests are built with: size-optimised, stripped, one
/// crate at a time (test programs build fast and incrementally).
pub const GUEST_PROFILE: &str = "guest";

/// The cargo profile of the built-in tools: [`GUEST_PROFILE`] plus
/// whole-program optimisation (LTO, one codegen unit), for the components
/// users run: smaller and faster, built once per change.
pub const TOOL_PROFILE: &str = "tool";

/// Builds `packages` (their libraries, plus examples when `examples`)
/// with cargo profile `profile` for wasm32-wasip2 and returns the
/// directory holding the `.wasm` files. Examples are guests and require
/// their package's `guest` feature, which this enables: the host build
/// (`cargo test --workspace`) skips them. Panics with a message naming the
/// fix when it fails: build scripts have no other way to report.
pub fn build(packages: &[&str], examples: bool, profile: &str) -> PathBuf {
    let root = workspace_root();
    for watched in [
        "wit",
        "sdk",
        "tools",
        "tests/programs",
        "tests/conformance",
        "tests/guest-build",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--profile", profile, "--target", "wasm32-wasip2", "--lib"])
        .env("CARGO_TARGET_DIR", &target_dir);
    if examples {
        let features: Vec<String> = packages.iter().map(|p| format!("{p}/guest")).collect();
        cmd.args(["--examples", "--features", &features.join(",")]);
    }
    for package in packages {
        cmd.args(["-p", package]);
    }
    // The outer build's flags (coverage, sanitizers, -C target-cpu) are for
    // the host; they must not leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the wasm32-wasip2 guests");
    assert!(
        status.success(),
        "building the wasm32-wasip2 guests failed (is the target installed? run `rustup target add wasm32-wasip2`)"
    );
    target_dir.join("wasm32-wasip2").join(profile)
}

/// Checks that `path` exists and returns it as a Rust string literal.
pub fn literal(path: &Path) -> String {
    assert!(path.exists(), "guest was not built at {}", path.display());
    format!("{:?}", path.display().to_string())
}
