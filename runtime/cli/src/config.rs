//! Finding the runtime configuration (`--config`, else `AIRLOCK_CONFIG`)
//! and mapping its errors to exit 7. Reading and validating it is
//! `airlock_gateway::config`'s.

use std::path::Path;

pub(crate) use airlock_gateway::config::{default_state_path, load_config_policies, load_policies};
pub(crate) use airlock_gateway::{AuditSettings, Config};
use anyhow::anyhow;

use crate::exit::{self, Failure};

/// Where the configuration comes from: `--config`, else `AIRLOCK_CONFIG`
/// (clap reads both into the same argument).
pub(crate) fn load(path: Option<&Path>) -> Result<Config, Failure> {
    let path = path.ok_or_else(|| {
        Failure::new(
            exit::CONFIG,
            anyhow!("no runtime configuration: pass --config FILE or set AIRLOCK_CONFIG (see the README's operator section)"),
        )
    })?;
    airlock_gateway::config::load(path).map_err(|e| Failure::new(exit::CONFIG, e))
}
