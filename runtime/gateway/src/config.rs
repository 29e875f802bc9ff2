//! The runtime configuration file (`airlock.toml`): the audience, trusted
//! issuers, policy files, the replay cache, limits and network budgets, the
//! secret store, the audit log, approvals and the tools `airlock serve`
//! offers. Unknown keys are errors, and a configuration with any error is
//! never used in part.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use airlock_approval::{ApprovalGate, Approvers, HumanRule};
use airlock_audit::{Checkpointer, Durability};
use airlock_identity::{ReplayCache, TrustStore, Verifier, VerifierSettings};
use airlock_policy::authz::{Authorizer, PolicySource};
use airlock_policy::{Limits, NetLimits};
use airlock_registry::{KeylessRoot, LOCKFILE_NAME, Lockfile, OciReference, TrustedSigner};
use anyhow::{Context, anyhow};
use serde::Deserialize;

use crate::ConfigError;
use crate::issuers::IssuerEntry;
use crate::limits::LimitsFile;
use crate::state::StateFile;
use crate::units::{parse_duration, parse_size};

/// The file as written. Relative paths are relative to the file's directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// This runtime's audience: tokens must carry exactly this `aud`.
    audience: String,
    /// Cedar policy files, validated against the shipped schema.
    policies: Vec<PathBuf>,
    /// Trusted issuers.
    #[serde(default, rename = "issuer")]
    issuers: Vec<IssuerEntry>,
    /// Where used token ids are recorded. Default: `$XDG_STATE_HOME/airlock/replay`
    /// (or `~/.local/state/airlock/replay`).
    replay_cache: Option<PathBuf>,
    /// Longest token lifetime accepted, such as `10m`. Default 15m.
    max_token_lifetime: Option<String>,
    /// Clock skew tolerated, such as `30s`. Default and maximum 60s.
    clock_skew: Option<String>,
    /// `[limits]`: per-call limits (flags override them).
    #[serde(default)]
    limits: LimitsFile,
    /// Per-call budgets for outgoing HTTP.
    #[serde(default)]
    network: NetworkBudgets,
    /// The secret store directory (from `airlock secret init`). Without
    /// one, no secret is ever offered.
    secrets: Option<PathBuf>,
    /// Tools `airlock serve` offers when no `--tools` is given: `.wasm`
    /// files, directories of them, pinned registry references
    /// (`oci://…@sha256:…`), or `{ ref = "oci://…:TAG", allow_tag = true }`.
    #[serde(default)]
    tools: Vec<ToolEntryFile>,
    /// `[audit]`: where and how every call is recorded.
    #[serde(default)]
    audit: AuditFile,
    /// `[approvals]`: who may approve calls that policy marks `@approval`.
    #[serde(default)]
    approvals: ApprovalsFile,
    /// `[state]`: a database a fleet of servers shares.
    #[serde(default)]
    state: StateFile,
    /// `[[tool_signers]]`: whose cosign signatures on registry tools are
    /// trusted, by name.
    #[serde(default)]
    tool_signers: Vec<ToolSignerFile>,
    /// `[sigstore]`: the offline roots keyless signers are checked against.
    sigstore: Option<SigstoreFile>,
}

/// `[[tool_signers]]`: a trusted signer of registry tools, by its public
/// key, or keyless by its identity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolSignerFile {
    /// The name policy and `tools` entries use (`resource.signer`).
    name: String,
    /// Its public key (PEM, ECDSA P-256 or Ed25519, as `cosign.pub`).
    key: Option<PathBuf>,
    /// Keyless: the OIDC issuer its Fulcio certificate must name, exactly.
    issuer: Option<String>,
    /// Keyless: the certificate's subject (e-mail address or URI), exactly.
    identity: Option<String>,
}

/// `[sigstore]`: the roots of keyless signatures, read from files (nothing
/// is fetched: no TUF, no transparency-log call).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigstoreFile {
    /// Fulcio's certificates (PEM: roots and intermediates).
    fulcio_roots: PathBuf,
    /// The transparency logs' public keys (PEM, one per file).
    rekor_keys: Vec<PathBuf>,
}

impl ConfigFile {
    /// The files the tool signers are read from.
    fn signer_files(&self, base: &Path) -> Vec<PathBuf> {
        let keys = self.tool_signers.iter().filter_map(|signer| signer.key.as_ref());
        let roots = self.sigstore.iter().flat_map(|s| std::iter::once(&s.fulcio_roots).chain(&s.rekor_keys));
        keys.chain(roots).map(|path| base.join(path)).collect()
    }
}

/// `[approvals]`; every key optional. Without `[[approvals.human]]` nobody
/// can approve: calls that need approval are filed and wait.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsFile {
    /// The store directory. Default: `AIRLOCK_APPROVALS`, else
    /// `$XDG_STATE_HOME/airlock/approvals` (or `~/.local/state/airlock/approvals`).
    dir: Option<PathBuf>,
    /// How long an approval stays usable once granted, such as `15m`
    /// (the default; at most 1h).
    expiry: Option<String>,
    /// How long a filed request waits for a human, such as `24h` (the default).
    request_expiry: Option<String>,
    /// `sub`s that may open break-glass windows (they must be human too).
    #[serde(default)]
    break_glass: Vec<String>,
    /// Who counts as a human approver.
    #[serde(default)]
    human: Vec<HumanEntry>,
}

/// `[[approvals.human]]`: tokens from `iss` whose `sub` starts with
/// `sub_prefix` (and that are not delegated) are humans.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HumanEntry {
    iss: String,
    sub_prefix: String,
}

/// `[audit]`; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    /// The log directory. Default: `AIRLOCK_AUDIT_LOG`, else
    /// `$XDG_STATE_HOME/airlock/audit` (or `~/.local/state/airlock/audit`).
    dir: Option<PathBuf>,
    /// `fsync` (every record, the default) or `group`.
    durability: Option<String>,
    /// With `group`: records per `fdatasync` (default 64).
    group_size: Option<u32>,
    /// An Ed25519 private key (PKCS#8 PEM, mode 0600, from `airlock audit
    /// keygen`): sign the chain head every `checkpoint_every` records.
    checkpoint_key: Option<PathBuf>,
    /// With `checkpoint_key`: records between checkpoints (default 100).
    checkpoint_every: Option<u64>,
}

/// `[network]`: per-call budgets; each key is optional and defaults to
/// [`NetLimits::default`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkBudgets {
    /// Most requests per call, such as `32`.
    max_requests: Option<u32>,
    /// Most request-body bytes per call, such as `1MiB`.
    max_request_bytes: Option<String>,
    /// Most response-body bytes per call, such as `8MiB`.
    max_response_bytes: Option<String>,
    /// Longest connect (TCP + TLS), such as `5s`.
    connect_timeout: Option<String>,
    /// Longest wait for response headers and between body chunks, such as `30s`.
    response_timeout: Option<String>,
    /// Most HTTP header bytes a tool may build per call, such as `1MiB`.
    max_header_bytes: Option<String>,
}

impl NetworkBudgets {
    fn limits(&self) -> anyhow::Result<NetLimits> {
        let mut limits = NetLimits::default();
        if let Some(n) = self.max_requests {
            limits.requests = n;
        }
        if let Some(text) = &self.max_request_bytes {
            limits.request_bytes = size("network.max_request_bytes", text)?;
        }
        if let Some(text) = &self.max_response_bytes {
            limits.response_bytes = size("network.max_response_bytes", text)?;
        }
        if let Some(text) = &self.connect_timeout {
            limits.connect_timeout = duration("network.connect_timeout", text)?;
        }
        if let Some(text) = &self.response_timeout {
            limits.response_timeout = duration("network.response_timeout", text)?;
        }
        if let Some(text) = &self.max_header_bytes {
            limits.header_bytes = size("network.max_header_bytes", text)?;
        }
        Ok(limits)
    }
}

/// A loaded, validated configuration.
pub struct Config {
    /// Verifies tokens: the trusted issuers' keys, the audience, lifetime
    /// and skew settings, and the replay cache (each token id used once).
    pub verifier: Arc<Verifier>,
    /// Decides with the configuration's Cedar policies.
    pub authorizer: Authorizer,
    /// Per-call limits from `[limits]` and `[network]` (before any flag).
    pub limits: Limits,
    /// The secret store directory, if any.
    pub secrets: Option<PathBuf>,
    /// Tool files and directories `airlock serve` offers by default
    /// (resolved paths).
    pub tools: Vec<PathBuf>,
    /// Tools from registries `airlock serve` offers by default.
    pub registry_tools: Vec<RegistryTool>,
    /// Trusted signers of registry tools (`[[tool_signers]]`), by name.
    pub tool_signers: Arc<[TrustedSigner]>,
    /// `airlock.lock` beside the configuration, if there is one: the
    /// digest and signer each registry tool is locked to.
    pub lock: Option<Arc<Lockfile>>,
    /// Where that lockfile is, or would be written.
    pub lock_path: PathBuf,
    /// Where and how calls are recorded.
    pub audit: AuditSettings,
    /// Who may approve gated calls, and the store of requests.
    pub approvals: ApprovalGate,
    /// The trusted issuers' `iss` values, in the file's order.
    pub issuers: Vec<String>,
    /// The database a fleet shares (`[state]`), migrated, if configured.
    pub state: Option<Arc<airlock_state::Database>>,
    /// Every file this configuration was read from: the file itself, the
    /// policy files, JWKS files and CA files it names, the tool signers'
    /// keys and the lockfile (what `airlock serve
    /// --watch` watches; the tools are watched separately).
    pub sources: Vec<PathBuf>,
}

/// The audit log's place, durability and checkpoint signer.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// The directory, if the config names one (else the default applies).
    pub dir: Option<PathBuf>,
    /// When records reach the disk: every record (`fsync`, the default) or
    /// in groups.
    pub durability: Durability,
    /// Signs checkpoints of the chain head, when a key is configured.
    pub checkpoints: Option<Checkpointer>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { dir: None, durability: Durability::EveryRecord, checkpoints: None }
    }
}

/// Reads and validates the configuration at `path`. Relative paths in it
/// are relative to its directory. Any error in it, or in any file it names
/// (policies, JWKS, keys), refuses the whole file: the error names the key
/// and the file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_file(path).map_err(ConfigError::from)
}

fn load_file(path: &Path) -> anyhow::Result<Config> {
    let file = parse_file(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let authorizer = read_policies(base, &file.policies)?;
    let limits = file.limits.apply(Limits { net: file.network.limits()?, ..Limits::default() })?;

    let mut trust = TrustStore::new();
    for (i, issuer) in file.issuers.iter().enumerate() {
        trust.add(&issuer.iss, issuer.key_source(base, &format!("issuer[{i}]"))?)?;
    }
    if file.issuers.is_empty() {
        anyhow::bail!("config `{}`: no [[issuer]] is trusted, so no token can verify", path.display());
    }
    let mut settings = VerifierSettings::new(&file.audience);
    if let Some(text) = &file.max_token_lifetime {
        settings.max_lifetime = duration("max_token_lifetime", text)?;
    }
    if let Some(text) = &file.clock_skew {
        settings.clock_skew = duration("clock_skew", text)?;
    }
    settings.validate()?;
    let state = file
        .state
        .settings(base, file.replay_cache.is_some())?
        .map(|s| crate::state::open_migrated(&s))
        .transpose()?;
    let replay = match (&state, &file.replay_cache) {
        (Some(database), _) => crate::state::shared_replay(database),
        (None, Some(p)) => ReplayCache::open(&base.join(p))?,
        (None, None) => ReplayCache::open(
            &default_replay_path()
                .context("no replay_cache set and no HOME or XDG_STATE_HOME to put it in")?,
        )?,
    };
    let verifier = Arc::new(Verifier::new(trust, settings, replay)?);
    let secrets = file.secrets.as_ref().map(|dir| base.join(dir));
    let RegistryTools { tool_signers, registry_tools, files: tools, lock, lock_path } =
        registry_tools(base, &file)?;
    let audit = audit_settings(base, &file.audit)?;
    let trusted: Vec<String> = file.issuers.iter().map(|i| i.iss.clone()).collect();
    let approvals = approval_gate(base, &file.approvals, &trusted, state.as_ref())?;
    let mut sources = vec![path.to_owned()];
    sources.extend(file.policies.iter().map(|p| base.join(p)));
    sources.extend(file.issuers.iter().flat_map(|issuer| issuer.files(base)));
    sources.extend(file.signer_files(base));
    sources.push(lock_path.clone());
    Ok(Config {
        verifier,
        authorizer,
        limits,
        secrets,
        tools,
        registry_tools,
        tool_signers,
        lock,
        lock_path,
        audit,
        approvals,
        issuers: trusted,
        state,
        sources,
    })
}

/// The state database the configuration at `path` names, opened but not
/// migrated (for `airlock state status` and `migrate`), if any. Only the
/// file itself is read and checked, not the files it names.
pub fn state_database(path: &Path) -> Result<Option<airlock_state::Database>, ConfigError> {
    let file = parse_file(path).map_err(ConfigError::from)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let Some(settings) = file.state.settings(base, file.replay_cache.is_some()).map_err(ConfigError::from)?
    else {
        return Ok(None);
    };
    airlock_state::Database::open(&settings)
        .map(Some)
        .map_err(|e| ConfigError::from(anyhow!("config `[state]`: {e}")))
}

fn approval_gate(
    base: &Path,
    file: &ApprovalsFile,
    trusted: &[String],
    state: Option<&Arc<airlock_state::Database>>,
) -> anyhow::Result<ApprovalGate> {
    let mut humans = Vec::with_capacity(file.human.len());
    for (i, entry) in file.human.iter().enumerate() {
        if !trusted.contains(&entry.iss) {
            anyhow::bail!(
                "config `approvals.human[{i}].iss`: `{}` is not a trusted [[issuer]], so no approver token from it can verify",
                entry.iss
            );
        }
        if entry.sub_prefix.is_empty() {
            anyhow::bail!(
                "config `approvals.human[{i}].sub_prefix` is empty: that would make every identity of `{}`, agents included, a human approver",
                entry.iss
            );
        }
        humans.push(HumanRule { iss: entry.iss.clone(), sub_prefix: entry.sub_prefix.clone() });
    }
    if let Some((i, _)) = file.break_glass.iter().enumerate().find(|(_, sub)| sub.trim().is_empty()) {
        anyhow::bail!("config `approvals.break_glass[{i}]` is empty");
    }
    let mut approvers = Approvers::new(humans, file.break_glass.clone());
    if let Some(text) = &file.expiry {
        let lifetime = duration("approvals.expiry", text)?;
        approvers = approvers
            .with_approval_lifetime(lifetime)
            .map_err(|e| anyhow!("config `approvals.expiry`: {e}"))?;
    }
    if let Some(text) = &file.request_expiry {
        approvers = approvers.with_request_lifetime(duration("approvals.request_expiry", text)?);
    }
    if let Some(database) = state {
        if file.dir.is_some() {
            anyhow::bail!(
                "config `approvals.dir`: with `[state]` approvals are kept in the database; remove `approvals.dir`"
            );
        }
        return Ok(ApprovalGate::shared(Arc::new(crate::state::shared_approvals(database)), approvers));
    }
    let dir = match &file.dir {
        Some(dir) => Some(base.join(dir)),
        None => default_state_path(Some("AIRLOCK_APPROVALS"), "approvals"),
    };
    Ok(ApprovalGate::new(dir, approvers))
}

fn audit_settings(base: &Path, file: &AuditFile) -> anyhow::Result<AuditSettings> {
    let durability = match (file.durability.as_deref(), file.group_size) {
        (None | Some("fsync"), None) => Durability::EveryRecord,
        (Some("group"), size) => match size.unwrap_or(64) {
            0 => anyhow::bail!("config `audit.group_size`: must be at least 1"),
            n => Durability::Group(n),
        },
        (None | Some("fsync"), Some(_)) => {
            anyhow::bail!("config `audit.group_size` needs `durability = \"group\"`")
        }
        (Some(other), _) => {
            anyhow::bail!("config `audit.durability`: `{other}` is not `fsync` or `group`")
        }
    };
    let checkpoints = match (&file.checkpoint_key, file.checkpoint_every) {
        (None, None) => None,
        (None, Some(_)) => anyhow::bail!("config `audit.checkpoint_every` needs `audit.checkpoint_key`"),
        (Some(_), Some(0)) => anyhow::bail!("config `audit.checkpoint_every`: must be at least 1"),
        (Some(key), every) => {
            let every = every.unwrap_or(Checkpointer::DEFAULT_EVERY);
            Some(Checkpointer::from_file(&base.join(key), every).context("config `audit.checkpoint_key`")?)
        }
    };
    Ok(AuditSettings { dir: file.dir.as_ref().map(|d| base.join(d)), durability, checkpoints })
}

/// A tool from an OCI registry, as the configuration names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryTool {
    /// The reference. Pinned (`@sha256:`) unless `allow_tag`.
    pub reference: OciReference,
    /// The operator let this entry be resolved by its tag each time the
    /// server loads it; the digest it resolves to is printed and recorded
    /// in the audit log. Off by default: a tag can move to other code.
    pub allow_tag: bool,
    /// The `[[tool_signers]]` name whose signature this tool must carry;
    /// without one it is refused at load. `None`: a tool's signature is
    /// still checked when signers are configured (policy sees the signer),
    /// but an unsigned tool loads.
    pub signer: Option<String>,
}

/// One entry of `tools`: a path or reference, or a registry table.
#[derive(Debug)]
enum ToolEntryFile {
    Text(String),
    Table(RegistryToolFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryToolFile {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    allow_tag: bool,
    signer: Option<String>,
}

impl<'de> Deserialize<'de> for ToolEntryFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(text) => Ok(Self::Text(text)),
            table @ toml::Value::Table(_) => table.try_into().map(Self::Table).map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "a tool is a path, a pinned `oci://…@sha256:…` reference, or { ref = \"oci://…\", allow_tag = true }",
            )),
        }
    }
}

/// Files (relative to `base`) and registry references, each checked: a
/// registry reference must be pinned unless its entry allows its tag.
fn tool_entries(
    base: &Path,
    entries: &[ToolEntryFile],
    signers: &[TrustedSigner],
) -> anyhow::Result<(Vec<PathBuf>, Vec<RegistryTool>)> {
    let mut files = Vec::new();
    let mut registry = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let (text, allow_tag, signer) = match entry {
            ToolEntryFile::Text(text) if !text.starts_with(airlock_registry::SCHEME) => {
                files.push(base.join(text));
                continue;
            }
            ToolEntryFile::Text(text) => (text, false, None),
            ToolEntryFile::Table(table) => (&table.reference, table.allow_tag, table.signer.clone()),
        };
        if let Some(name) = &signer
            && !signers.iter().any(|s| s.name() == name)
        {
            anyhow::bail!("config `tools[{i}]`: signer `{name}` is not a [[tool_signers]] name");
        }
        let reference: OciReference = text.parse().map_err(|e| anyhow!("config `tools[{i}]`: {e}"))?;
        if reference.digest().is_none() && !allow_tag {
            anyhow::bail!(
                "config `tools[{i}]`: `{reference}` is not pinned: a tag can move to other code. Pin it with the digest `airlock pull {reference}` prints, or write {{ ref = \"{reference}\", allow_tag = true }}"
            );
        }
        registry.push(RegistryTool { reference, allow_tag, signer });
    }
    Ok((files, registry))
}

/// `[[tool_signers]]`, each key (and `[sigstore]`'s roots) read and parsed
/// now: a bad file refuses the configuration, naming it.
fn tool_signers(
    base: &Path,
    entries: &[ToolSignerFile],
    sigstore: Option<&SigstoreFile>,
) -> anyhow::Result<Arc<[TrustedSigner]>> {
    let root = sigstore
        .map(|s| {
            let rekor: Vec<PathBuf> = s.rekor_keys.iter().map(|key| base.join(key)).collect();
            KeylessRoot::from_files(&base.join(&s.fulcio_roots), &rekor).map(Arc::new)
        })
        .transpose()
        .map_err(|e| anyhow!("config `sigstore`: {e}"))?;
    let mut signers: Vec<TrustedSigner> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        if entry.name.is_empty() || signers.iter().any(|s| s.name() == entry.name) {
            anyhow::bail!("config `tool_signers[{i}]`: the name `{}` is empty or used twice", entry.name);
        }
        let signer = match (&entry.key, &entry.issuer, &entry.identity) {
            (Some(key), None, None) => TrustedSigner::from_file(&entry.name, &base.join(key))
                .map_err(|e| anyhow!("config `tool_signers[{i}]`: {e}"))?,
            (None, Some(issuer), Some(identity)) if !issuer.is_empty() && !identity.is_empty() => {
                let Some(root) = &root else {
                    anyhow::bail!(
                        "config `tool_signers[{i}]`: a keyless signer (issuer and identity) is checked against [sigstore] fulcio_roots and rekor_keys; the configuration has no [sigstore]"
                    );
                };
                TrustedSigner::keyless(&entry.name, issuer, identity, root.clone())
            }
            _ => anyhow::bail!(
                "config `tool_signers[{i}]`: give either `key` (a public key file) or both `issuer` and `identity` (a keyless signer), not empty"
            ),
        };
        signers.push(signer);
    }
    Ok(signers.into())
}

/// What a configuration says about its tools: what `airlock pull --config`
/// reads, without loading keys, state or policies.
pub struct RegistryTools {
    /// Trusted signers of registry tools (`[[tool_signers]]`), by name.
    pub tool_signers: Arc<[TrustedSigner]>,
    /// The registry tools, in the file's order.
    pub registry_tools: Vec<RegistryTool>,
    /// Tool files and directories (resolved paths).
    pub files: Vec<PathBuf>,
    /// The lockfile beside the configuration, if there is one.
    pub lock: Option<Arc<Lockfile>>,
    /// Where that lockfile is, or would be written.
    pub lock_path: PathBuf,
}

fn registry_tools(base: &Path, file: &ConfigFile) -> anyhow::Result<RegistryTools> {
    let tool_signers = tool_signers(base, &file.tool_signers, file.sigstore.as_ref())?;
    let (files, registry_tools) = tool_entries(base, &file.tools, &tool_signers)?;
    let lock_path = base.join(LOCKFILE_NAME);
    let lock = Lockfile::read(&lock_path)?.map(Arc::new);
    Ok(RegistryTools { tool_signers, registry_tools, files, lock, lock_path })
}

/// Reads and validates only a configuration's tools, `[[tool_signers]]`
/// and lockfile (for `airlock pull --config`). The file must still parse
/// as a whole.
pub fn load_config_tools(path: &Path) -> Result<RegistryTools, ConfigError> {
    let read = || -> anyhow::Result<RegistryTools> {
        let file = parse_file(path)?;
        registry_tools(path.parent().unwrap_or(Path::new(".")), &file)
    };
    read().map_err(ConfigError::from)
}

/// The configuration file at `path`, parsed (and nothing it names read).
fn parse_file(path: &Path) -> anyhow::Result<ConfigFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read config `{}`", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config `{}`", path.display()))
}

/// What `airlock agents` reads of a configuration: its trusted issuers,
/// its policies, and whether a fleet shares state. Keys, state and tools
/// are not opened.
pub struct ConfigOverview {
    /// The trusted issuers' `iss` values, in the file's order.
    pub issuers: Vec<String>,
    /// Its policies.
    pub authorizer: Authorizer,
    /// Whether it has a `[state]` database (the fleet's audit chain).
    pub has_state: bool,
}

/// Reads a configuration's issuers and policies, and whether it has
/// `[state]`, without opening keys, the replay cache, the database or
/// tools. The file must still parse as a whole.
pub fn load_config_overview(path: &Path) -> Result<ConfigOverview, ConfigError> {
    let read = || -> anyhow::Result<ConfigOverview> {
        let file = parse_file(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let authorizer = read_policies(base, &file.policies)?;
        Ok(ConfigOverview {
            issuers: file.issuers.iter().map(|issuer| issuer.iss.clone()).collect(),
            authorizer,
            has_state: file.state.settings(base, file.replay_cache.is_some())?.is_some(),
        })
    };
    read().map_err(ConfigError::from)
}

/// Reads and validates only the policies a configuration names (its
/// `policies`, relative to its directory): for proofs about them, without
/// loading keys, state or tools. The file must still parse as a whole.
pub fn load_config_policies(path: &Path) -> Result<Authorizer, ConfigError> {
    let read = || -> anyhow::Result<Authorizer> {
        let file = parse_file(path)?;
        read_policies(path.parent().unwrap_or(Path::new(".")), &file.policies)
    };
    read().map_err(ConfigError::from)
}

/// Reads and validates policy files (paths relative to `base`), as
/// [`load`] does; for checking policies without a configuration.
pub fn load_policies(base: &Path, files: &[PathBuf]) -> Result<Authorizer, ConfigError> {
    read_policies(base, files).map_err(ConfigError::from)
}

fn read_policies(base: &Path, files: &[PathBuf]) -> anyhow::Result<Authorizer> {
    if files.is_empty() {
        anyhow::bail!("no policy files: every call would be denied");
    }
    let mut sources = Vec::with_capacity(files.len());
    for file in files {
        let path = base.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read policy file `{}`", path.display()))?;
        sources.push(PolicySource { name: path.display().to_string(), text });
    }
    Authorizer::new(&sources).map_err(|errors| anyhow!("{errors}"))
}

fn duration(key: &str, text: &str) -> anyhow::Result<Duration> {
    parse_duration(text).map_err(|e| anyhow!("config `{key}`: {e}"))
}

fn size(key: &str, text: &str) -> anyhow::Result<u64> {
    parse_size(text).map_err(|e| anyhow!("config `{key}`: {e}"))
}

fn default_replay_path() -> Option<PathBuf> {
    default_state_path(None, "replay")
}

/// `$VAR` (when given and set), else `$XDG_STATE_HOME/airlock/NAME`, else
/// `~/.local/state/airlock/NAME`.
pub fn default_state_path(var: Option<&str>, name: &str) -> Option<PathBuf> {
    if let Some(path) = var.and_then(std::env::var_os) {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("airlock").join(name))
}
