//! `airlock serve` without restarts. On `SIGHUP`, and with `--watch` when
//! a file it was read from changes, the configuration (policies, trusted
//! issuers and their keys, limits, secrets, approvals) and the tools are
//! read again and validated whole, then swapped in at once. Anything wrong
//! (a policy that does not parse, a JWKS that fails a check, a tool that
//! does not load) keeps the set in force, and the log says what and where.
//!
//! Not reloaded (a restart applies them): the listen addresses, the audit
//! log's place and durability, and the command line's flags, which keep
//! overriding the configuration as they did at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_gateway::Metrics;
use airlock_host::Runtime;
use airlock_mcp::tls::TlsCertificate;
use airlock_mcp::{AirlockServer, BearerTokens, Catalog, Gate, LoadEvent, Readiness, ToolChanges};
use airlock_policy::{OfferedEnv, OfferedMount};
use airlock_state::Database;
use anyhow::anyhow;

use airlock_audit::AuditSink;

use crate::args::{CacheArgs, LimitArgs};
use crate::config::{self, Config};
use crate::exit::Failure;
use crate::registry::ToolSet;
use crate::serve::ServeOffer;

/// How often `--watch` looks at the files.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// How long a change must rest before it is read (an editor writes a file
/// in several steps).
const SETTLE: Duration = Duration::from_millis(300);

/// What a reload needs: where the configuration is, the command line's
/// bindings and overrides, and what to swap the result into.
pub(crate) struct Reloader {
    pub(crate) config: Option<PathBuf>,
    /// `--tools`, which override the configuration's `tools` when given.
    pub(crate) tool_flags: Vec<PathBuf>,
    pub(crate) mounts: Vec<OfferedMount>,
    pub(crate) env: Vec<OfferedEnv>,
    pub(crate) limit_flags: LimitArgs,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) server: AirlockServer,
    /// The HTTP door's token verification (stdio's is in the server).
    pub(crate) tokens: Option<Arc<BearerTokens>>,
    pub(crate) metrics: Option<Arc<Metrics>>,
    pub(crate) tls: Option<Arc<TlsCertificate>>,
    /// The files the set in force was read from.
    pub(crate) sources: Vec<PathBuf>,
    /// The tools in force.
    pub(crate) tools: ToolSet,
    /// Where registry tools are read from.
    pub(crate) cache: CacheArgs,
    /// Where a registry tag resolved on reload is recorded.
    pub(crate) audit: Arc<dyn AuditSink>,
}

impl Reloader {
    /// The gate for `config`: its policies, approvals and offer (the
    /// command line's bindings and limit flags over its own).
    pub(crate) fn gate(
        config: Config,
        mounts: &[OfferedMount],
        env: &[OfferedEnv],
        limit_flags: &LimitArgs,
        metrics: Option<&Arc<Metrics>>,
    ) -> Result<Gate, Failure> {
        let limits = crate::limits::with_flags(config.limits, limit_flags)?;
        let offers =
            ServeOffer { mounts: mounts.to_vec(), env: env.to_vec(), limits, secrets: config.secrets };
        let gate = Gate::new(config.authorizer, offers).with_approvals(config.approvals);
        Ok(match metrics {
            Some(metrics) => gate.with_metrics(metrics.clone()),
            None => gate,
        })
    }

    /// Serves until the process ends: reloads on every `SIGHUP`, and when
    /// `watch` is set, whenever a source file changes.
    pub(crate) fn spawn(mut self, watch: bool) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            let mut seen = stamps(&self.watched());
            loop {
                let hangup = tokio::select! {
                    received = hangups.recv() => {
                        if received.is_none() {
                            return;
                        }
                        true
                    }
                    () = tokio::time::sleep(WATCH_INTERVAL), if watch => false,
                };
                if hangup {
                    self.reload_certificate();
                } else {
                    if stamps(&self.watched()) == seen {
                        continue;
                    }
                    tokio::time::sleep(SETTLE).await;
                    tracing::info!("a configuration, policy, key or tool file changed");
                }
                self.reload_and_log().await;
                // A failed reload is tried again when the files change again.
                seen = stamps(&self.watched());
            }
        });
        Ok(())
    }

    fn reload_certificate(&self) {
        let Some(certificate) = &self.tls else { return };
        let reloaded = certificate.reload();
        if let Some(metrics) = &self.metrics {
            metrics.reloaded("tls", reloaded.is_ok());
        }
        match reloaded {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(error) => tracing::warn!(%error, "TLS certificate not reloaded; the one in use stays"),
        }
    }

    async fn reload_and_log(&mut self) {
        let reloaded = self.reload().await;
        if let Some(metrics) = &self.metrics {
            metrics.reloaded("config", reloaded.is_ok());
        }
        match reloaded {
            Ok(changes) => tracing::info!(
                tools = self.server.tool_count(),
                added = ?changes.added,
                removed = ?changes.removed,
                "configuration reloaded"
            ),
            Err(failure) => {
                let error = format!("{:#}", failure.error);
                tracing::warn!(%error, "configuration not reloaded; the one in force stays");
            }
        }
    }

    /// Reads everything again and swaps it in, or changes nothing.
    async fn reload(&mut self) -> Result<ToolChanges, Failure> {
        let path = self.config.clone();
        let config = tokio::task::spawn_blocking(move || config::load(path.as_deref()))
            .await
            .map_err(Failure::internal)??;
        let tools = if self.tool_flags.is_empty() {
            ToolSet::from_config(&config)
        } else {
            ToolSet::from_flags(&self.tool_flags, config.tool_signers.clone())?
        };
        let (verifier, sources, state) =
            (config.verifier.clone(), config.sources.clone(), config.state.clone());
        let gate = Self::gate(config, &self.mounts, &self.env, &self.limit_flags, self.metrics.as_ref())?;
        // As at start, a component that does not load is skipped with a
        // warning; but a served tool whose file no longer loads keeps the
        // set in force (a broken update must not make a tool vanish).
        let mut broken = None;
        let catalog_sources = tools.sources(&self.cache, Some(self.audit.as_ref())).await?;
        let catalog = Catalog::load_sources(&self.runtime, &catalog_sources, |event| {
            if let LoadEvent::Skipped(error) = event {
                if error.path().is_some_and(|path| self.server.serves(path)) {
                    broken.get_or_insert_with(|| error.to_string());
                } else {
                    tracing::warn!(%error, "tool skipped");
                }
            }
        })
        .await
        .map_err(Failure::usage)?;
        if let Some(error) = broken {
            return Err(Failure::usage(anyhow!("a served tool no longer loads: {error}")));
        }
        if let Some(tokens) = &self.tokens {
            tokens.replace_verifier(verifier);
        } else {
            self.server.replace_verifier(verifier);
        }
        self.sources = sources;
        self.tools = tools;
        self.server.set_readiness(readiness(state));
        Ok(self.server.reload(catalog, gate))
    }

    /// The configuration's files and the tool paths in force.
    fn watched(&self) -> Vec<PathBuf> {
        self.sources.iter().chain(&self.tools.files).cloned().collect()
    }
}

/// What tells a rewritten file apart: length, modification time, inode
/// (`None`: the file is missing).
type Stamp = Option<(u64, Option<SystemTime>, u64)>;

/// For each path its [`Stamp`]; a directory also contributes each `.wasm`
/// file in it.
fn stamps(paths: &[PathBuf]) -> Vec<(PathBuf, Stamp)> {
    let mut all = Vec::new();
    for path in paths {
        all.push((path.clone(), stamp(path)));
        if let Ok(entries) = std::fs::read_dir(path) {
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|file| file.extension().is_some_and(|e| e == "wasm"))
                .collect();
            files.sort();
            all.extend(files.into_iter().map(|file| {
                let stamped = stamp(&file);
                (file, stamped)
            }));
        }
    }
    all
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok(), std::os::unix::fs::MetadataExt::ino(&meta)))
}

/// What `/readyz` checks besides the tools: the state database, if the
/// configuration names one (a quick `SELECT 1` within its timeout).
pub(crate) fn readiness(state: Option<Arc<Database>>) -> Option<Arc<dyn Readiness>> {
    state.map(|database| Arc::new(StateProbe(database)) as Arc<dyn Readiness>)
}

struct StateProbe(Arc<Database>);

impl Readiness for StateProbe {
    fn check(&self) -> Result<(), String> {
        self.0.ping().map_err(|e| e.to_string())
    }
}
