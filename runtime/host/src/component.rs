//! Loading a tool: header checks, compile (or cached artifact), type checks
//! against the world, and `describe()`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_policy::text::{excerpt, has_unprintable, is_unprintable, printable};
use airlock_policy::{
    Access, CapabilityRequest, EnvRequest, GrantSet, GuestPath, HostRequest, Limits, Methods, MountRequest,
    SecretRequest, ToolInfo,
};
use sha2::{Digest, Sha256};

use crate::bindings::{ToolPre, wit};
use crate::call::{self, CallOutcome, CallSettings, Watcher};
use crate::engine::{Runtime, Ticker};
use crate::error::{CallError, LoadError};
use crate::state::HostState;
use crate::usage::Usage;

/// sha256 of a component's bytes, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToolDigest(pub String);

impl std::fmt::Display for ToolDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// A validated, compiled, pre-instantiated tool. Cheap to clone; every call
/// gets a fresh instance.
#[derive(Clone)]
pub struct LoadedTool {
    inner: Arc<Inner>,
}

struct Inner {
    pre: ToolPre<HostState>,
    info: ToolInfo,
    digest: ToolDigest,
    imports: Vec<String>,
    settings: CallSettings,
    from_cache: bool,
    /// Why a cached artifact was not used, or could not be written.
    cache_note: Option<String>,
    /// Keeps deadlines enforced even if the `Runtime` is dropped first.
    _ticker: Arc<Ticker>,
}

/// Budget for `describe()`: it must be pure and quick.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Component binary preamble: magic, then version 0x0d with layer 1.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
const COMPONENT_VERSION: u32 = 0x0001_000d;
const CORE_VERSION: u32 = 0x0000_0001;

impl Runtime {
    /// Loads a tool from a `.wasm` file. See [`Runtime::load_bytes`].
    pub async fn load(&self, path: &Path) -> Result<LoadedTool, LoadError> {
        let bytes = std::fs::read(path).map_err(|error| LoadError::Read { path: path.to_owned(), error })?;
        self.load_bytes(&bytes).await
    }

    /// Loads a tool from component bytes: checks it is a component, compiles
    /// it (or takes the verified cached artifact), type-checks its imports and
    /// exports against the `airlock:tool` world, and calls `describe()` in a
    /// sandbox with no grants.
    pub async fn load_bytes(&self, bytes: &[u8]) -> Result<LoadedTool, LoadError> {
        check_preamble(bytes)?;
        let digest = ToolDigest(hex::encode(Sha256::digest(bytes)));
        let (component, source) = self.cache.get(&self.engine, bytes, &digest.0)?;
        let imports =
            component.component_type().imports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::UnknownImport(format!("{e:#}")))?;
        let pre = ToolPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let settings = CallSettings {
            max_memory_bytes: self.config.max_memory_bytes,
            blocking_file_io: self.config.blocking_file_io,
        };
        let info = describe(&pre, settings).await?;
        Ok(LoadedTool {
            inner: Arc::new(Inner {
                pre,
                info,
                digest,
                imports,
                settings,
                from_cache: source == crate::artifact::Source::Cache,
                cache_note: source.note().map(str::to_owned),
                _ticker: self.ticker.clone(),
            }),
        })
    }
}

impl LoadedTool {
    /// What the tool said about itself.
    pub fn info(&self) -> &ToolInfo {
        &self.inner.info
    }

    /// sha256 of the component.
    pub fn digest(&self) -> &ToolDigest {
        &self.inner.digest
    }

    /// The component's imports, by name (WASI interfaces and `airlock:tool/log`).
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// True when the compiled code came from the artifact cache.
    pub fn from_cache(&self) -> bool {
        self.inner.from_cache
    }

    /// Set when the artifact cache held something under this component's
    /// name that was not used (truncated, altered, swapped, sealed by
    /// another key, rejected by wasmtime), or the compiled artifact could
    /// not be written: the tool was compiled afresh, and the operator
    /// should know why (someone may be tampering with the cache).
    pub fn cache_note(&self) -> Option<&str> {
        self.inner.cache_note.as_deref()
    }

    /// Calls `invoke(input)` in a fresh store and instance with `grants`.
    ///
    /// `Ok` means the tool ran to completion: its own answer (output or
    /// tool error) is in [`CallOutcome::result`]. `Err` means the runtime
    /// ended the call (a limit, a trap) or could not start it.
    pub async fn call(&self, grants: &GrantSet, input: &str) -> Result<CallOutcome, CallError> {
        call::invoke(&self.inner.pre, grants, self.inner.settings, input, None).await.0
    }

    /// [`LoadedTool::call`], with `watcher` hearing each log line the call
    /// keeps while it runs (they are in the outcome as well).
    pub async fn call_watched(
        &self,
        grants: &GrantSet,
        input: &str,
        watcher: Arc<dyn Watcher>,
    ) -> Result<CallOutcome, CallError> {
        call::invoke(&self.inner.pre, grants, self.inner.settings, input, Some(watcher)).await.0
    }

    /// [`LoadedTool::call`] (with `watcher`, if any), and what the call
    /// used of its grants whether it completed or not: a call ended by a
    /// limit or a trap may have used them first (the audit log records it).
    pub async fn call_reporting_usage(
        &self,
        grants: &GrantSet,
        input: &str,
        watcher: Option<Arc<dyn Watcher>>,
    ) -> (Result<CallOutcome, CallError>, Usage) {
        call::invoke(&self.inner.pre, grants, self.inner.settings, input, watcher).await
    }
}

fn check_preamble(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(LoadError::NotWasm);
    }
    let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    match version {
        COMPONENT_VERSION => Ok(()),
        CORE_VERSION => Err(LoadError::CoreModule),
        other => Err(LoadError::UnsupportedVersion(other)),
    }
}

async fn describe(pre: &ToolPre<HostState>, settings: CallSettings) -> Result<ToolInfo, LoadError> {
    let grants = GrantSet::none().with_limits(Limits { timeout: DESCRIBE_TIMEOUT, ..Limits::default() });
    let (result, leftovers) = call::with_fresh_instance(pre, &grants, settings, None, async |tool, store| {
        tool.call_describe(store).await
    })
    .await;
    let raw = result.map_err(|e| match e {
        CallError::Trap(t) => {
            LoadError::Describe(call::with_stderr_tail(format!("tool trapped: {t}"), &leftovers.stderr))
        }
        other => LoadError::Describe(other.to_string()),
    })?;
    convert_info(raw).map_err(LoadError::BadDescription)
}

fn convert_info(raw: wit::ToolInfo) -> Result<ToolInfo, String> {
    if raw.name.is_empty()
        || raw.name.len() > 64
        || !raw.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!("name `{}` must be 1-64 characters of [a-z0-9_-]", raw.name.escape_default()));
    }
    check_text(&raw)?;
    let schema = |which: &str, text: &str| -> Result<serde_json::Value, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("{which} schema is not JSON: {e}"))?;
        if !(value.is_object() || value.is_boolean()) {
            return Err(format!("{which} schema must be a JSON object or boolean"));
        }
        Ok(value)
    };
    let caps = raw.capabilities;
    let mounts = caps
        .mounts
        .into_iter()
        .map(|m| {
            Ok(MountRequest {
                guest_path: GuestPath::new(&m.guest_path).map_err(|e| format!("mount request: {e}"))?,
                access: match m.access {
                    wit::Access::ReadOnly => Access::ReadOnly,
                    wit::Access::ReadWrite => Access::ReadWrite,
                },
                reason: m.reason,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let hosts = caps
        .hosts
        .into_iter()
        .map(|h| {
            Ok(HostRequest {
                destination: h.destination.parse().map_err(|e| format!("host request: {e}"))?,
                methods: Methods::parse(&h.methods)
                    .map_err(|e| format!("host request `{}`: {e}", printable(&h.destination)))?,
                reason: h.reason,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ToolInfo {
        input_schema: schema("input", &raw.input_schema)?,
        output_schema: schema("output", &raw.output_schema)?,
        name: raw.name,
        version: raw.version,
        description: raw.description,
        capabilities: CapabilityRequest {
            mounts,
            hosts,
            secrets: caps
                .secrets
                .into_iter()
                .map(|s| SecretRequest { name: s.name, reason: s.reason, reveal: s.reveal })
                .collect(),
            env: caps.env.into_iter().map(|e| EnvRequest { name: e.name, reason: e.reason }).collect(),
        },
    })
}

/// Refuses a self-description whose text could disguise itself where a
/// human reads it (`airlock inspect`, `approve --list`, the audit log,
/// MCP `tools/list`): a version that is not 1-64 characters of
/// `[0-9A-Za-z.+-]`, and a control character or bidirectional override in
/// a description, reason or requested name (descriptions and reasons may
/// span lines: newlines and tabs are allowed there).
fn check_text(raw: &wit::ToolInfo) -> Result<(), String> {
    let version = &raw.version;
    if version.is_empty()
        || version.len() > 64
        || !version.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
    {
        return Err(format!("version `{}` must be 1-64 characters of [0-9A-Za-z.+-]", excerpt(version, 64)));
    }
    let prose = |field: &str, text: &str| {
        if text.chars().any(|c| is_unprintable(c) && c != '\n' && c != '\t') {
            Err(format!(
                "{field} holds a control character or bidirectional override: `{}`",
                excerpt(text, 64)
            ))
        } else {
            Ok(())
        }
    };
    let name = |field: &str, text: &str| {
        if has_unprintable(text) {
            Err(format!(
                "{field} `{}` holds a control character or bidirectional override",
                excerpt(text, 64)
            ))
        } else {
            Ok(())
        }
    };
    prose("description", &raw.description)?;
    let caps = &raw.capabilities;
    for mount in &caps.mounts {
        prose("mount request reason", &mount.reason)?;
    }
    for host in &caps.hosts {
        name("host request", &host.destination)?;
        prose("host request reason", &host.reason)?;
    }
    for secret in &caps.secrets {
        name("secret request", &secret.name)?;
        prose("secret request reason", &secret.reason)?;
    }
    for env in &caps.env {
        name("env request", &env.name)?;
        prose("env request reason", &env.reason)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> wit::ToolInfo {
        wit::ToolInfo {
            name: "fetch".into(),
            version: "1.2.0-rc.1+build.5".into(),
            description: "Fetches a page.\n\tThat is all.".into(),
            input_schema: "{}".into(),
            output_schema: "{}".into(),
            capabilities: wit::CapabilityRequest {
                mounts: Vec::new(),
                hosts: vec![wit::HostRequest {
                    destination: "https://api.example.com".into(),
                    methods: vec!["GET".into()],
                    reason: "the API".into(),
                }],
                secrets: vec![wit::SecretRequest {
                    name: "token".into(),
                    reason: "auth".into(),
                    reveal: false,
                }],
                env: vec![wit::EnvRequest { name: "LANG".into(), reason: "locale".into() }],
            },
        }
    }

    /// A change that spoils a self-description.
    type Spoil = fn(&mut wit::ToolInfo);

    #[test]
    fn a_name_is_1_to_64_characters_of_lowercase_digits_dash_and_underscore() {
        for good in ["grep", "read-file", "test_simple_text", "a", &"x".repeat(64)] {
            let mut raw = info();
            raw.name = good.to_owned();
            assert!(convert_info(raw).is_ok(), "{good}");
        }
        for bad in ["", "Grep", "read file", "../x", "a.b", "tool\u{0}", &"x".repeat(65)] {
            let mut raw = info();
            raw.name = bad.to_owned();
            let error = convert_info(raw).expect_err(bad);
            assert!(error.contains("must be 1-64 characters of [a-z0-9_-]"), "{error}");
        }
    }

    #[test]
    fn a_self_description_that_could_disguise_itself_is_refused_naming_the_field() {
        assert!(convert_info(info()).is_ok(), "a plain description loads");
        let cases: [(&str, Spoil); 6] = [
            ("version `1.0\\n` must be", |i| i.version = "1.0\n".into()),
            ("version `", |i| i.version = "x".repeat(65)),
            ("description holds a control character", |i| i.description = "ok\u{1b}[2J".into()),
            ("host request reason holds", |i| i.capabilities.hosts[0].reason = "a\u{202e}b".into()),
            ("secret request `tok\\ren` holds", |i| i.capabilities.secrets[0].name = "tok\ren".into()),
            ("env request reason holds", |i| i.capabilities.env[0].reason = "x\u{7}".into()),
        ];
        for (message, spoil) in cases {
            let mut raw = info();
            spoil(&mut raw);
            let error = convert_info(raw).expect_err(message);
            assert!(error.contains(message), "{error}");
            assert!(!error.chars().any(is_unprintable), "the error itself is escaped: {error:?}");
        }
    }
}
