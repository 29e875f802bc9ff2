//! `[state]`: where a fleet's shared state lives. Absent, every process
//! keeps its own on disk (the default, no database needed); with a
//! PostgreSQL `url` (or `AIRLOCK_STATE_URL`), the record of used token
//! ids, the approval store and the audit chain are shared by every replica
//! using it.

use std::sync::Arc;

use airlock_identity::ReplayCache;
use airlock_state::{Database, DatabaseSettings, PgReplay};
use anyhow::{anyhow, bail};
use serde::Deserialize;

use crate::units::parse_duration;

/// The variable that sets (or overrides) `[state] url`, so the URL and its
/// credentials need not be written in the file.
pub const STATE_URL_VAR: &str = "AIRLOCK_STATE_URL";

/// `[state]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    url: Option<String>,
    /// The schema for airlock's tables (default `airlock`).
    schema: Option<String>,
    /// Longest a database operation may take (default `5s`).
    timeout: Option<String>,
    /// Most connections per process (default 16).
    max_connections: Option<usize>,
    /// PEM file of the only CA certificates trusted for the database's TLS
    /// (with `sslmode=require` in the URL; default: the webpki roots).
    ca: Option<std::path::PathBuf>,
}

impl StateFile {
    /// The database settings, if one is configured (the environment
    /// variable wins over the file). `replay_cache_set`: the file also sets
    /// `replay_cache`, which a database replaces.
    pub(crate) fn settings(
        &self,
        base: &std::path::Path,
        replay_cache_set: bool,
    ) -> anyhow::Result<Option<DatabaseSettings>> {
        let from_env = std::env::var(STATE_URL_VAR).ok().filter(|url| !url.is_empty());
        let Some(url) = from_env.or_else(|| self.url.clone()) else {
            if self.schema.is_some()
                || self.timeout.is_some()
                || self.max_connections.is_some()
                || self.ca.is_some()
            {
                bail!("config `[state]`: settings without a `url` (or {STATE_URL_VAR})");
            }
            return Ok(None);
        };
        if replay_cache_set {
            bail!(
                "config `replay_cache`: with `[state]` the record of used tokens is in the database; remove `replay_cache`"
            );
        }
        let mut settings = DatabaseSettings::new(&url);
        if let Some(schema) = &self.schema {
            settings.schema = schema.clone();
        }
        if let Some(text) = &self.timeout {
            settings.timeout = parse_duration(text).map_err(|e| anyhow!("config `state.timeout`: {e}"))?;
        }
        if let Some(file) = &self.ca {
            let path = base.join(file);
            let pem = std::fs::read(&path)
                .map_err(|e| anyhow!("config `state.ca`: cannot read `{}`: {e}", path.display()))?;
            settings.ca_pem = Some(pem);
        }
        if let Some(n) = self.max_connections {
            if n == 0 {
                bail!("config `state.max_connections`: 0 connections");
            }
            settings.max_connections = n;
        }
        Ok(Some(settings))
    }
}

/// Opens the database `settings` name and brings its schema up to date.
pub(crate) fn open_migrated(settings: &DatabaseSettings) -> anyhow::Result<Arc<Database>> {
    let database = Database::open(settings).map_err(|e| anyhow!("config `[state]`: {e}"))?;
    airlock_state::migrate(&database).map_err(|e| anyhow!("config `[state]`: {e}"))?;
    Ok(Arc::new(database))
}

/// The replay record in `database`.
pub(crate) fn shared_replay(database: &Arc<Database>) -> ReplayCache {
    ReplayCache::shared(Box::new(PgReplay::new(database.clone())))
}

/// The approval store in `database`.
pub(crate) fn shared_approvals(database: &Arc<Database>) -> airlock_approval::ApprovalStore {
    airlock_approval::ApprovalStore::shared(Box::new(airlock_state::PgApprovals::new(database.clone())))
}
