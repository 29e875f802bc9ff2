//! `[[issuer]]` entries: whom tokens may come from, and where each
//! issuer's keys are: a JWKS file, a JWKS URL, or OIDC discovery from the
//! `iss` itself.

use std::path::{Path, PathBuf};

use airlock_identity::{JwksKeys, KeyLocation, KeySource, RemoteKeys, RemoteSettings};
use anyhow::{Context, anyhow, bail};
use serde::Deserialize;

use crate::units::parse_duration;

/// One trusted issuer, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuerEntry {
    /// The exact `iss` value.
    pub(crate) iss: String,
    /// Its public keys, as a JWKS file read at start.
    jwks: Option<PathBuf>,
    /// Its public keys, fetched from this `https://` JWKS URL and refreshed.
    jwks_uri: Option<String>,
    /// PEM file of the only CA certificates trusted for the fetch's TLS
    /// (default: the webpki roots).
    ca: Option<PathBuf>,
    /// Fetched keys: shortest time between refreshes (default `5m`).
    refresh_min: Option<String>,
    /// Fetched keys: longest time between refreshes (default `1h`).
    refresh_max: Option<String>,
    /// Fetched keys: at most one early refetch per this interval for a
    /// token naming an unknown `kid` (default `1m`).
    refetch_interval: Option<String>,
    /// Fetched keys: how long the last good set is used while refreshes
    /// fail; past it the issuer's tokens are refused (default `24h`).
    max_stale: Option<String>,
    /// Fetched keys: time for one fetch (default `10s`).
    fetch_timeout: Option<String>,
}

impl IssuerEntry {
    /// The key source: the JWKS file read now, or the fetcher started and
    /// its first fetch done (an unreachable issuer fails here). `key`
    /// names the entry in errors, such as `issuer[0]`.
    pub(crate) fn key_source(&self, base: &Path, key: &str) -> anyhow::Result<Box<dyn KeySource>> {
        let location = match (&self.jwks, &self.jwks_uri) {
            (Some(_), Some(_)) => {
                bail!("config `{key}` (`{}`): set `jwks` (a file) or `jwks_uri`, not both", self.iss)
            }
            (Some(file), None) => return self.file_keys(base, key, file),
            (None, Some(uri)) => KeyLocation::JwksUri(uri.clone()),
            (None, None) => KeyLocation::Discovery,
        };
        let settings = self.remote_settings(base, key)?;
        let keys = RemoteKeys::start(&self.iss, location, settings)
            .with_context(|| format!("config `{key}` (`{}`)", self.iss))?;
        Ok(Box::new(keys))
    }

    /// The files the entry names (its JWKS file, its CA file).
    pub(crate) fn files(&self, base: &Path) -> impl Iterator<Item = PathBuf> {
        [self.jwks.as_ref(), self.ca.as_ref()].into_iter().flatten().map(move |file| base.join(file))
    }

    fn file_keys(&self, base: &Path, key: &str, file: &Path) -> anyhow::Result<Box<dyn KeySource>> {
        if let Some(setting) = self.fetch_settings().find(|(_, set)| *set).map(|(name, _)| name) {
            bail!(
                "config `{key}.{setting}` (`{}`): applies to fetched keys only, and this issuer's come from the file `jwks`",
                self.iss
            );
        }
        let path = base.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("issuer `{}`: cannot read JWKS `{}`", self.iss, path.display()))?;
        Ok(Box::new(JwksKeys::from_json(&self.iss, &text)?))
    }

    fn fetch_settings(&self) -> impl Iterator<Item = (&'static str, bool)> {
        [
            ("ca", self.ca.is_some()),
            ("refresh_min", self.refresh_min.is_some()),
            ("refresh_max", self.refresh_max.is_some()),
            ("refetch_interval", self.refetch_interval.is_some()),
            ("max_stale", self.max_stale.is_some()),
            ("fetch_timeout", self.fetch_timeout.is_some()),
        ]
        .into_iter()
    }

    fn remote_settings(&self, base: &Path, key: &str) -> anyhow::Result<RemoteSettings> {
        let mut settings = RemoteSettings::default();
        let durations = [
            ("refresh_min", &self.refresh_min, &mut settings.refresh_min),
            ("refresh_max", &self.refresh_max, &mut settings.refresh_max),
            ("refetch_interval", &self.refetch_interval, &mut settings.refetch_interval),
            ("max_stale", &self.max_stale, &mut settings.max_stale),
            ("fetch_timeout", &self.fetch_timeout, &mut settings.timeout),
        ];
        for (name, text, slot) in durations {
            if let Some(text) = text {
                *slot = parse_duration(text).map_err(|e| anyhow!("config `{key}.{name}`: {e}"))?;
            }
        }
        if let Some(file) = &self.ca {
            let path = base.join(file);
            let pem = std::fs::read(&path)
                .with_context(|| format!("config `{key}.ca`: cannot read `{}`", path.display()))?;
            settings
                .trust_only_pem(&pem)
                .map_err(|e| anyhow!("config `{key}.ca`: `{}` {e}", path.display()))?;
        }
        settings.validate().map_err(|e| anyhow!("config `{key}` (`{}`): {e}", self.iss))?;
        Ok(settings)
    }
}
