//! Building the host runtime: for one-shot commands and for the server.

use std::path::PathBuf;

use airlock_host::{LoadError, LoadedTool, Runtime, RuntimeConfig};

use crate::args::CacheArgs;
use crate::exit::{self, Failure};

/// A one-shot command runs one call at a time: a small pool.
const CLI_POOL: u32 = 4;

/// The runtime for a one-shot command.
pub(crate) fn runtime(cache: &CacheArgs) -> Result<Runtime, Failure> {
    runtime_with_pool(cache, CLI_POOL)
}

/// A runtime running at most `max_concurrent_calls` calls at once, with the
/// artifact cache `cache` names.
pub(crate) fn runtime_with_pool(cache: &CacheArgs, max_concurrent_calls: u32) -> Result<Runtime, Failure> {
    let cache_dir = if cache.no_cache { None } else { cache.cache_dir.clone().or_else(default_cache_dir) };
    Runtime::new(RuntimeConfig { max_concurrent_calls, cache_dir, ..RuntimeConfig::default() })
        .map_err(Failure::internal)
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("airlock"))
}

/// Maps a load failure to its exit code: an unreadable file is a usage
/// error, everything else means the file is not a valid tool.
pub(crate) fn load_failure(error: LoadError) -> Failure {
    match error {
        LoadError::Read { .. } => Failure::usage(error),
        other => Failure::new(exit::INVALID_TOOL, other),
    }
}

/// The tools built into the binary, by the name `airlock run NAME` takes.
const BUILT_IN: [(&str, &[u8]); 5] = [
    ("grep", airlock_tools::GREP),
    ("read-file", airlock_tools::READ_FILE),
    ("http-fetch", airlock_tools::HTTP_FETCH),
    ("osv-query", airlock_tools::OSV_QUERY),
    ("patch-deps", airlock_tools::PATCH_DEPS),
];

/// Loads the tool a command names: a built-in tool by its bare name
/// (`patch-deps`), or a component file, named by a path that has a `/` or
/// ends in `.wasm`. A bare name never reads a file, so a checkout cannot
/// plant `./patch-deps` in place of the built-in tool.
pub(crate) async fn load(
    runtime: &Runtime,
    tool: &std::path::Path,
    cache: &CacheArgs,
) -> Result<LoadedTool, Failure> {
    let loaded = load_quietly(runtime, tool, cache).await?;
    if let Some(note) = loaded.cache_note() {
        eprintln!("warning: {}", airlock_policy::text::printable(note));
    }
    Ok(loaded)
}

async fn load_quietly(
    runtime: &Runtime,
    tool: &std::path::Path,
    cache: &CacheArgs,
) -> Result<LoadedTool, Failure> {
    let text = tool.to_string_lossy();
    if text.starts_with(airlock_registry::SCHEME) {
        return crate::registry::load_pinned(runtime, &text, cache).await;
    }
    if text.contains('/') || text.ends_with(".wasm") {
        return runtime.load(tool).await.map_err(load_failure);
    }
    let Some((_, bytes)) = BUILT_IN.iter().find(|(name, _)| *name == text) else {
        let names: Vec<&str> = BUILT_IN.iter().map(|(name, _)| *name).collect();
        return Err(Failure::usage(anyhow::anyhow!(
            "no built-in tool `{text}` (built in: {}); name a component file by a path with a `/` or a `.wasm` name",
            names.join(", ")
        )));
    };
    runtime.load_bytes(bytes).await.map_err(load_failure)
}
