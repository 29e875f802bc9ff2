//! Credentials for a registry: none (anonymous), or user and password from
//! a docker-style `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), as `docker login`, `oras login` and
//! `wkg` write it. A registry that answers with a bearer challenge gets
//! the token flow (the client asks the token service with these
//! credentials, or anonymously). Credential helpers (`credsStore`,
//! `credHelpers`) are not run.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::RegistryError;

/// Where credentials for registries come from.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The docker-style config file this process would read, if any.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

impl Credentials {
    /// Anonymous access only.
    pub fn anonymous() -> Self {
        Self { file: None }
    }

    /// Credentials from the docker-style config at `path` (a missing file
    /// means anonymous access).
    pub fn from_file(path: &Path) -> Self {
        Self { file: Some(path.to_owned()) }
    }

    /// Credentials from [`docker_config_path`].
    pub fn from_environment() -> Self {
        Self { file: docker_config_path() }
    }

    /// The credentials for `registry` (`host[:port]`).
    pub(crate) fn for_registry(&self, registry: &str) -> Result<RegistryAuth, RegistryError> {
        let Some(path) = &self.file else { return Ok(RegistryAuth::Anonymous) };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
            Err(e) => return Err(bad(path, e.to_string())),
        };
        let config: DockerConfig = serde_json::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        let entry = config.auths.iter().find(|(key, _)| host_of(key) == registry).map(|(_, entry)| entry);
        let Some(entry) = entry else { return Ok(RegistryAuth::Anonymous) };
        if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
            return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
        }
        let Some(encoded) = &entry.auth else { return Ok(RegistryAuth::Anonymous) };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| bad(path, format!("`auths.{registry}.auth` is not base64 of user:password")))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| bad(path, format!("`auths.{registry}.auth` is not base64 of user:password")))?;
        Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()))
    }
}

fn bad(path: &Path, message: String) -> RegistryError {
    RegistryError::Credentials { path: path.display().to_string(), message }
}

/// `https://host:port/v1/` → `host:port`.
fn host_of(key: &str) -> &str {
    let key = key.split_once("://").map_or(key, |(_, rest)| rest);
    key.split('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_style_credentials_by_registry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        let encoded = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://registry.acme.example/v1/": {{"auth": "{encoded}"}},
                              "127.0.0.1:5000": {{"username": "u", "password": "p"}}}},
                   "credsStore": "desktop"}}"#
            ),
        )
        .expect("write");
        let creds = Credentials::from_file(&path);
        let basic = |r: &str| match creds.for_registry(r).expect("reads") {
            RegistryAuth::Basic(user, password) => Some((user, password)),
            _ => None,
        };
        assert_eq!(basic("registry.acme.example"), Some(("ci".into(), "s3cret".into())));
        assert_eq!(basic("127.0.0.1:5000"), Some(("u".into(), "p".into())));
        assert_eq!(basic("ghcr.io"), None);
        let none = Credentials::from_file(&dir.path().join("none")).for_registry("x").expect("ok");
        assert!(matches!(none, RegistryAuth::Anonymous));

        std::fs::write(&path, r#"{"auths": {"ghcr.io": {"auth": "not base64!"}}}"#).expect("write");
        let err = creds.for_registry("ghcr.io").expect_err("bad").to_string();
        assert!(err.contains("is not base64 of user:password"), "{err}");
        std::fs::write(&path, "{").expect("write");
        assert!(creds.for_registry("ghcr.io").expect_err("bad json").to_string().contains("config.json"));
    }
}
