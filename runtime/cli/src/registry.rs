//! `airlock pull`, `airlock push`, and loading a tool by a pinned registry
//! reference: from the local component store, verified on every read,
//! pulled by digest when missing.

use std::path::PathBuf;

use std::sync::Arc;

use airlock_audit::{AuditSink, Event, ToolResolvedEvent};
use airlock_gateway::config::RegistryTool;
use airlock_host::{LoadedTool, Runtime};
use airlock_mcp::CatalogSource;
use airlock_registry::{
    ComponentStore, Credentials, LockedTool, Lockfile, OciReference, Recorded, Registry, RegistryError,
    StoreError, TrustedSigner,
};
use anyhow::anyhow;

use crate::args::{CacheArgs, PullArgs, PushArgs, SignArgs};
use crate::exit::{self, Failure};
use crate::runtime;

/// The store `--components` (or `AIRLOCK_COMPONENTS`) names, else the default.
fn store(cache: &CacheArgs) -> Result<ComponentStore, Failure> {
    let dir = cache.components.clone().or_else(default_store_dir).ok_or_else(|| {
        Failure::usage(anyhow!(
            "no component store: pass --components DIR (or set AIRLOCK_COMPONENTS, XDG_DATA_HOME or HOME)"
        ))
    })?;
    ComponentStore::open(&dir).map_err(Failure::internal)
}

fn default_store_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("airlock/components"))
}

fn reference(text: &str) -> Result<OciReference, Failure> {
    text.parse::<OciReference>().map_err(Failure::usage)
}

/// Exit code for a registry failure: refusals of what was received are
/// "not a valid tool" (5), the rest internal (6).
fn failure(error: RegistryError) -> Failure {
    match error {
        RegistryError::ManifestDigestMismatch { .. }
        | RegistryError::LayerDigestMismatch { .. }
        | RegistryError::NotAComponent { .. }
        | RegistryError::Store(StoreError::Tampered { .. }) => Failure::new(exit::INVALID_TOOL, error),
        RegistryError::Credentials { .. } => Failure::usage(error),
        other => Failure::internal(other),
    }
}

pub(crate) async fn pull(args: PullArgs) -> Result<(), Failure> {
    let reference = args.reference.as_deref().map(reference).transpose()?;
    if let Some(config) = &args.config {
        return lock_config(config, reference.as_ref(), args.accept_signer, &args.cache).await;
    }
    let Some(reference) = reference else {
        return Err(Failure::usage(anyhow!(
            "name a reference to pull, or pass --config FILE to lock the configuration's registry tools"
        )));
    };
    if args.accept_signer {
        return Err(Failure::usage(anyhow!("--accept-signer applies to airlock.lock: pass --config FILE")));
    }
    let store = store(&args.cache)?;
    let pulled =
        Registry::new(Credentials::from_environment()).pull(&reference, &store).await.map_err(failure)?;
    println!("pulled {} (component {}, {} bytes)", pulled.pinned, pulled.component_digest, pulled.size);
    if pulled.resolved_tag {
        eprintln!(
            "note: tag `{}` resolved to {}; pin it: {}",
            reference.tag().unwrap_or_default(),
            pulled.manifest_digest,
            pulled.pinned
        );
    }
    Ok(())
}

pub(crate) async fn push(args: PushArgs) -> Result<(), Failure> {
    let reference = reference(&args.reference)?;
    let bytes = std::fs::read(&args.file)
        .map_err(|e| Failure::usage(anyhow!("cannot read `{}`: {e}", args.file.display())))?;
    // Only a component that loads as an airlock tool is published.
    let rt = runtime::runtime(&args.cache)?;
    let tool = rt.load_bytes(&bytes).await.map_err(runtime::load_failure)?;
    let pinned =
        Registry::new(Credentials::from_environment()).push(&bytes, &reference).await.map_err(failure)?;
    println!("{pinned}");
    eprintln!("pushed {} {} (component {})", tool.info().name, tool.info().version, tool.digest());
    Ok(())
}

pub(crate) async fn sign(args: SignArgs) -> Result<(), Failure> {
    if let Some(path) = &args.generate_key {
        let public = airlock_registry::generate_key(path).map_err(Failure::usage)?;
        println!("{}", public.display());
        eprintln!(
            "wrote {} (private, 0600) and {}: trust it with [[tool_signers]] key = \"{}\"",
            path.display(),
            public.display(),
            public.display()
        );
        return Ok(());
    }
    let (Some(text), Some(key)) = (&args.reference, &args.key) else {
        return Err(Failure::usage(anyhow!(
            "pass a pinned reference and --key FILE, or --generate-key FILE"
        )));
    };
    let reference = reference(text)?;
    let Some(digest) = reference.digest() else {
        return Err(Failure::usage(anyhow!(
            "`{reference}` is not pinned: a signature is over one digest. Sign the reference `airlock pull {reference}` prints"
        )));
    };
    airlock_registry::sign(&reference, digest, key, &Credentials::from_environment()).await.map_err(|e| {
        match e {
            airlock_registry::SignatureError::Key { .. } => Failure::usage(e),
            other => Failure::internal(other),
        }
    })?;
    println!("signed {reference}");
    Ok(())
}

/// The component a pinned `reference` (manifest `digest`) names: the
/// verified manifest in the store names it; only when the manifest is
/// missing is it pulled, by digest.
async fn stored_component(
    registry: &Registry,
    store: &ComponentStore,
    reference: &OciReference,
    digest: &str,
) -> Result<String, Failure> {
    match store.manifest(digest) {
        Ok(manifest) => airlock_registry::component_of(reference, &manifest).map_err(failure),
        Err(StoreError::Missing { .. }) => {
            Ok(registry.pull(reference, store).await.map_err(failure)?.component_digest)
        }
        Err(other) => Err(failure(other.into())),
    }
}

/// The trusted signer of the tool a command line names, for policy's
/// `resource.signer`: checked when `named` is a pinned registry reference
/// and the configuration has `[[tool_signers]]`. A missing or untrusted
/// signature leaves it unsigned (policy decides), with a note saying why.
pub(crate) async fn signer_of(named: &std::path::Path, signers: &[TrustedSigner]) -> Option<String> {
    let text = named.to_string_lossy();
    if signers.is_empty() || !text.starts_with(airlock_registry::SCHEME) {
        return None;
    }
    let reference = text.parse::<OciReference>().ok()?;
    let digest = reference.digest()?;
    match airlock_registry::verify(&reference, digest, signers, &Credentials::from_environment()).await {
        Ok(name) => Some(name),
        Err(e) => {
            eprintln!("note: {}: unsigned for policy", airlock_policy::text::printable(&e.to_string()));
            None
        }
    }
}

/// Loads the tool `text` (an `oci://` reference) names. It must be pinned
/// (`@sha256:`): a tag could name other code tomorrow. The verified
/// manifest in the store names the component, which is read from the store
/// and hashed again; only what is missing is pulled, by digest.
pub(crate) async fn load_pinned(
    runtime: &Runtime,
    text: &str,
    cache: &CacheArgs,
) -> Result<LoadedTool, Failure> {
    let reference = reference(text)?;
    let Some(digest) = reference.digest() else {
        return Err(Failure::usage(anyhow!(
            "`{reference}` is not pinned: a tag can move to other code. Run `airlock pull {reference}` and use the pinned reference it prints"
        )));
    };
    let store = store(cache)?;
    let registry = Registry::new(Credentials::from_environment());
    let component_digest = stored_component(&registry, &store, &reference, digest).await?;
    let bytes = store.component(&component_digest).map_err(|e| failure(e.into()))?;
    runtime.load_bytes(&bytes).await.map_err(runtime::load_failure)
}

/// The tools a server offers: files and directories, and registry tools.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolSet {
    /// `.wasm` files and directories of them.
    pub(crate) files: Vec<PathBuf>,
    /// Registry references, pinned unless the entry allows its tag.
    pub(crate) registry: Vec<RegistryTool>,
    /// Whose signatures on registry tools are trusted (`[[tool_signers]]`).
    pub(crate) signers: Arc<[TrustedSigner]>,
    /// The configuration's `airlock.lock`, when it has one: every registry
    /// tool must be in it, and runs exactly its locked digest and signer.
    lock: Option<Locked>,
}

/// A lockfile and where it was read from (for messages).
#[derive(Clone, Debug)]
struct Locked {
    file: Arc<Lockfile>,
    path: PathBuf,
}

/// A registry tool made ready to load.
struct Resolved {
    /// The reference pinned to the manifest that runs.
    pinned: OciReference,
    /// The component that manifest names.
    component_digest: String,
    /// The trusted signer whose signature verified.
    signer: Option<String>,
}

impl ToolSet {
    /// The configuration's `tools`, `[[tool_signers]]` and `airlock.lock`.
    pub(crate) fn from_config(config: &airlock_gateway::Config) -> Self {
        Self {
            files: config.tools.clone(),
            registry: config.registry_tools.clone(),
            signers: config.tool_signers.clone(),
            lock: config.lock.clone().map(|file| Locked { file, path: config.lock_path.clone() }),
        }
    }

    /// A configuration's tools as [`load_config_tools`] reads them
    /// (without opening keys or state).
    ///
    /// [`load_config_tools`]: airlock_gateway::config::load_config_tools
    pub(crate) fn from_config_tools(tools: airlock_gateway::config::RegistryTools) -> Self {
        Self {
            files: tools.files,
            registry: tools.registry_tools,
            signers: tools.tool_signers,
            lock: tools.lock.map(|file| Locked { file, path: tools.lock_path }),
        }
    }

    /// `--tools`: paths, and pinned `oci://` references (a tag is allowed
    /// only in the configuration, per entry). The lockfile locks the
    /// configuration's tools, not these.
    pub(crate) fn from_flags(flags: &[PathBuf], signers: Arc<[TrustedSigner]>) -> Result<Self, Failure> {
        let mut set = Self { signers, ..Self::default() };
        for flag in flags {
            let text = flag.to_string_lossy();
            if !text.starts_with(airlock_registry::SCHEME) {
                set.files.push(flag.clone());
                continue;
            }
            let reference = reference(&text)?;
            if reference.digest().is_none() {
                return Err(Failure::usage(anyhow!(
                    "--tools `{reference}` is not pinned: a tag can move to other code. Use the pinned reference `airlock pull {reference}` prints (or allow the tag per entry in the configuration)"
                )));
            }
            set.registry.push(RegistryTool { reference, allow_tag: false, signer: None });
        }
        Ok(set)
    }

    /// Checks `pinned`'s cosign signatures against the trusted signers, as
    /// every load does (so a changed trust configuration is applied on
    /// reload). An entry that names its signer is refused unless that
    /// signer's signature verifies; any other tool loads, the outcome
    /// logged. Returns the signer's name.
    async fn check_signature(
        &self,
        entry: &RegistryTool,
        pinned: &OciReference,
    ) -> Result<Option<String>, Failure> {
        let Some(digest) = pinned.digest() else { return Ok(None) };
        if self.signers.is_empty() {
            return Ok(None);
        }
        let verified =
            airlock_registry::verify(pinned, digest, &self.signers, &Credentials::from_environment()).await;
        match (verified, &entry.signer) {
            (Ok(name), Some(required)) if &name != required => Err(Failure::new(
                exit::INVALID_TOOL,
                anyhow!(
                    "`{pinned}` must be signed by `{required}`; its signature verifies as `{name}`: refused"
                ),
            )),
            (Ok(name), _) => {
                tracing::info!(reference = %pinned, signer = %name, "signature verified");
                Ok(Some(name))
            }
            (Err(e), Some(required)) => {
                Err(Failure::new(exit::INVALID_TOOL, anyhow!("{e} (the entry requires signer `{required}`)")))
            }
            (Err(e), None) => {
                tracing::warn!(reference = %pinned, reason = %e, "no trusted signature; loaded as unsigned");
                Ok(None)
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.registry.is_empty()
    }

    /// The lock entry of `entry`, when the set is locked: it must have one,
    /// and a pinned entry must pin the locked digest.
    fn locked(&self, entry: &RegistryTool) -> Result<Option<&LockedTool>, Failure> {
        let Some(lock) = &self.lock else { return Ok(None) };
        let name = entry.reference.name();
        let Some(locked) = lock.file.get(&name) else {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow!(
                    "`{name}` is not in `{}`: lock it with `airlock pull --config` on this configuration",
                    lock.path.display()
                ),
            ));
        };
        if let Some(digest) = entry.reference.digest()
            && digest != locked.digest
        {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow!(
                    "`{name}`: the configuration pins {digest}, `{}` locks {}: update the lock with `airlock pull --config` on this configuration",
                    lock.path.display(),
                    locked.digest
                ),
            ));
        }
        Ok(Some(locked))
    }

    /// Makes one registry tool ready to load: its pinned manifest (locked,
    /// pinned, or its tag resolved now, recorded in `audit` when given),
    /// the component it names (from the store, pulled by digest when
    /// missing), and its signature checked. A locked tool must name the
    /// locked component and verify as the locked signer.
    async fn resolve(
        &self,
        entry: &RegistryTool,
        registry: &Registry,
        store: &ComponentStore,
        audit: Option<&dyn AuditSink>,
    ) -> Result<Resolved, Failure> {
        let reference = &entry.reference;
        let locked = self.locked(entry)?;
        let pinned = match (reference.digest(), locked) {
            (Some(_), _) => reference.clone(),
            (None, Some(locked)) => reference.pinned(&locked.digest),
            (None, None) => {
                let pulled = registry.pull(reference, store).await.map_err(failure)?;
                if let Some(audit) = audit {
                    tracing::warn!(
                        reference = %reference,
                        digest = %pulled.manifest_digest,
                        "registry tag resolved (allow_tag); pin it to stop it moving"
                    );
                    eprintln!("airlock: {reference} resolved to {}", pulled.manifest_digest);
                    audit
                        .append(Event::ToolResolved(ToolResolvedEvent {
                            reference: reference.to_string(),
                            manifest_digest: pulled.manifest_digest.clone(),
                            component_digest: pulled.component_digest.clone(),
                        }))
                        .map_err(Failure::internal)?;
                }
                pulled.pinned
            }
        };
        let Some(digest) = pinned.digest() else {
            return Err(Failure::internal(anyhow!("`{pinned}` has no digest after resolution")));
        };
        let component_digest = stored_component(registry, store, &pinned, digest).await?;
        let signer = self.check_signature(entry, &pinned).await?;
        if let Some(locked) = locked {
            if component_digest != locked.component {
                return Err(Failure::new(
                    exit::INVALID_TOOL,
                    anyhow!(
                        "`{pinned}` names component {component_digest}, but airlock.lock records {}: refused",
                        locked.component
                    ),
                ));
            }
            if signer != locked.signer {
                return Err(Failure::new(
                    exit::INVALID_TOOL,
                    airlock_registry::LockError::SignerChanged {
                        name: locked.name.clone(),
                        recorded: locked.signer.clone(),
                        found: signer,
                    },
                ));
            }
        }
        Ok(Resolved { pinned, component_digest, signer })
    }

    /// What the catalog loads: the files as they are, each registry tool
    /// read from the component store (verified as it is read), pulled by
    /// digest when missing. An entry that allows its tag, and is not
    /// locked, is resolved now: the digest is printed and recorded in the
    /// audit log.
    /// Without `audit` (a report, not a server), a tag is still resolved
    /// but not recorded.
    pub(crate) async fn sources(
        &self,
        cache: &CacheArgs,
        audit: Option<&dyn AuditSink>,
    ) -> Result<Vec<CatalogSource>, Failure> {
        let mut sources: Vec<CatalogSource> = self.files.iter().cloned().map(CatalogSource::Path).collect();
        if self.registry.is_empty() {
            return Ok(sources);
        }
        let store = store(cache)?;
        let registry = Registry::new(Credentials::from_environment());
        for entry in &self.registry {
            let resolved = self.resolve(entry, &registry, &store, audit).await?;
            let bytes = store.component(&resolved.component_digest).map_err(|e| failure(e.into()))?;
            sources.push(CatalogSource::Component {
                label: resolved.pinned.to_string(),
                bytes: Arc::from(bytes),
                signer: resolved.signer,
            });
        }
        Ok(sources)
    }
}

/// `airlock pull --config FILE [REF]`: pulls the configuration's registry
/// tools (or the one `only` names), checks their signatures as a load
/// does, and records each digest and signer in `airlock.lock` beside it.
/// A signer that changed is refused unless `accept_signer`; if anything is
/// refused, the lockfile is left as it was.
async fn lock_config(
    path: &std::path::Path,
    only: Option<&OciReference>,
    accept_signer: bool,
    cache: &CacheArgs,
) -> Result<(), Failure> {
    let tools =
        airlock_gateway::config::load_config_tools(path).map_err(|e| Failure::new(exit::CONFIG, e))?;
    let mut lock = tools.lock.as_deref().cloned().unwrap_or_default();
    let set = ToolSet { registry: tools.registry_tools, signers: tools.tool_signers, ..ToolSet::default() };
    if set.registry.is_empty() {
        return Err(Failure::usage(anyhow!(
            "config `{}` names no registry tools: nothing to lock",
            path.display()
        )));
    }
    let entries: Vec<&RegistryTool> = match only {
        None => set.registry.iter().collect(),
        Some(only) if only.digest().is_some() => {
            return Err(Failure::usage(anyhow!(
                "with --config, name the tool without a digest (`{}`): the configuration pins it or allows its tag",
                only.name()
            )));
        }
        Some(only) => {
            let chosen: Vec<&RegistryTool> =
                set.registry.iter().filter(|e| e.reference.name() == only.name()).collect();
            if chosen.is_empty() {
                let names: Vec<String> = set.registry.iter().map(|e| e.reference.name()).collect();
                return Err(Failure::usage(anyhow!(
                    "`{only}` is not a registry tool of `{}` (it names: {})",
                    path.display(),
                    names.join(", ")
                )));
            }
            chosen
        }
    };
    let store = store(cache)?;
    let registry = Registry::new(Credentials::from_environment());
    let mut lines = Vec::new();
    let mut refusals = Vec::new();
    for entry in entries {
        let resolved = set.resolve(entry, &registry, &store, None).await?;
        let tool = LockedTool {
            name: entry.reference.name(),
            digest: resolved.pinned.digest().unwrap_or_default().to_owned(),
            component: resolved.component_digest,
            signer: resolved.signer,
        };
        let signed = tool.signer.as_ref().map_or_else(|| "unsigned".to_owned(), |s| format!("signed by {s}"));
        let line = format!("locked {} (component {}, {signed})", resolved.pinned, tool.component);
        match lock.record(tool, accept_signer) {
            Ok(Recorded::Added | Recorded::Unchanged) => lines.push(line),
            Ok(Recorded::Updated { previous }) => {
                let mut changes = Vec::new();
                if previous.digest != resolved.pinned.digest().unwrap_or_default() {
                    changes.push(format!("was {}", previous.digest));
                }
                if let Some(current) = lock.get(&previous.name)
                    && current.signer != previous.signer
                {
                    changes.push(format!(
                        "signer changed from {}: accepted",
                        previous.signer.as_deref().unwrap_or("unsigned")
                    ));
                }
                lines.push(format!("{line}; {}", changes.join("; ")));
            }
            Err(e) => refusals.push(e.to_string()),
        }
    }
    if !refusals.is_empty() {
        return Err(Failure::new(
            exit::INVALID_TOOL,
            anyhow!("`{}` not changed: {}", tools.lock_path.display(), refusals.join("; ")),
        ));
    }
    if only.is_none() {
        let names: Vec<String> = set.registry.iter().map(|e| e.reference.name()).collect();
        for dropped in lock.retain(|name| names.iter().any(|n| n == name)) {
            lines.push(format!("unlocked {} (no longer in the configuration)", dropped.name));
        }
    }
    lock.write(&tools.lock_path).map_err(Failure::internal)?;
    for line in lines {
        println!("{line}");
    }
    eprintln!("wrote {}", tools.lock_path.display());
    Ok(())
}
