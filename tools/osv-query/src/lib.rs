//! `osv-query`: asks an OSV-compatible vulnerability API which of a list of
//! package versions have known advisories (`POST /v1/querybatch`).
#![deny(unsafe_code)]

use airlock_sdk::http::Request;
use airlock_sdk::{Capabilities, Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The public OSV API.
const DEFAULT_API: &str = "https://api.osv.dev";
/// Most packages per call (the OSV batch limit).
const MAX_PACKAGES: usize = 1000;
/// Largest response read.
const MAX_RESPONSE: usize = 4 << 20;

/// One package version to check.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// OSV ecosystem: `crates.io`, `npm`, `PyPI`, ...
    pub ecosystem: String,
    /// Package name.
    pub name: String,
    /// Exact version.
    pub version: String,
}

/// Input of `osv-query`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The packages to check (1 to 1000).
    #[schemars(length(min = 1, max = 1000))]
    pub packages: Vec<Package>,
    /// Base URL of the API (default `https://api.osv.dev`); a mirror must be
    /// granted by the operator.
    pub api: Option<String>,
}

/// The advisories for one package version.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Finding {
    /// The package checked.
    pub package: Package,
    /// Advisory ids (`GHSA-...`, `RUSTSEC-...`), empty when none are known.
    pub vulns: Vec<String>,
    /// True when the API has more advisories than it returned in one page.
    pub more: bool,
}

/// Output of `osv-query`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// One finding per package, in input order.
    pub results: Vec<Finding>,
    /// How many packages have at least one advisory.
    pub vulnerable: usize,
}

#[derive(Deserialize)]
struct BatchResponse {
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    vulns: Vec<VulnRef>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct VulnRef {
    id: String,
}

/// The tool.
pub struct OsvQuery;

impl Tool for OsvQuery {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "osv-query";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Checks package versions against an OSV-compatible vulnerability API (POST /v1/querybatch; default https://api.osv.dev) and returns the advisory ids for each.";

    fn capabilities() -> Capabilities {
        Capabilities::none()
            .host_methods(DEFAULT_API, &["POST"], "the public OSV API")
            .host_methods("https://*:1-65535", &["POST"], "an OSV-compatible mirror the operator grants")
            .host_methods("http://*:1-65535", &["POST"], "an OSV-compatible mirror the operator grants")
    }

    fn run(input: Input) -> Result<Output, ToolError> {
        if input.packages.len() > MAX_PACKAGES {
            return Err(ToolError::invalid_input(format!("at most {MAX_PACKAGES} packages per call")));
        }
        let api = input.api.as_deref().unwrap_or(DEFAULT_API).trim_end_matches('/');
        let queries: Vec<serde_json::Value> = input
            .packages
            .iter()
            .map(|p| {
                serde_json::json!({
                    "package": { "name": p.name, "ecosystem": p.ecosystem },
                    "version": p.version,
                })
            })
            .collect();
        let body =
            serde_json::to_vec(&serde_json::json!({ "queries": queries })).map_err(ToolError::failed)?;
        let response = Request::post(&format!("{api}/v1/querybatch"), body)
            .header("content-type", "application/json")
            .send(MAX_RESPONSE)?;
        if response.status != 200 {
            let text = String::from_utf8_lossy(&response.body);
            let text: String = text.chars().take(200).collect();
            return Err(ToolError::failed(format!("{api} answered {}: {text}", response.status)));
        }
        if response.truncated {
            return Err(ToolError::failed(format!("{api} answered more than {MAX_RESPONSE} bytes")));
        }
        let batch: BatchResponse = serde_json::from_slice(&response.body).map_err(|e| {
            ToolError::failed(format!("{api} answered something that is not an OSV batch: {e}"))
        })?;
        if batch.results.len() != input.packages.len() {
            return Err(ToolError::failed(format!(
                "{api} answered {} results for {} packages",
                batch.results.len(),
                input.packages.len()
            )));
        }
        let results: Vec<Finding> = input
            .packages
            .into_iter()
            .zip(batch.results)
            .map(|(package, result)| Finding {
                package,
                vulns: result.vulns.into_iter().map(|v| v.id).collect(),
                more: result.next_page_token.is_some(),
            })
            .collect();
        let vulnerable = results.iter().filter(|r| !r.vulns.is_empty()).count();
        Ok(Output { results, vulnerable })
    }
}

airlock_sdk::export_tool!(OsvQuery);
