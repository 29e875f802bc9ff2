//! Advisories fetched from an OSV-compatible API, for the versions the
//! checkout actually installs: `POST /v1/querybatch` says which advisory
//! ids hit each version, `GET /v1/vulns/{id}` returns each record. Only
//! destinations the operator grants are reachable.

use std::collections::BTreeSet;

use airlock_sdk::ToolError;
use airlock_sdk::http::Request;
use serde::Deserialize;

use crate::advisory::{Query, Record};

/// Most packages per batch (the OSV limit).
const BATCH: usize = 1000;
/// Largest batch answer read.
const MAX_BATCH_RESPONSE: usize = 4 << 20;
/// Largest advisory record read.
const MAX_RECORD: usize = 1 << 20;
/// Most advisory records fetched in one run.
const MAX_RECORDS: usize = 500;

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

/// The records of every advisory that affects one of `queries`.
pub(crate) fn fetch(api: &str, queries: &[Query]) -> Result<Vec<Record>, ToolError> {
    let api = api.trim_end_matches('/');
    let mut ids = BTreeSet::new();
    for chunk in queries.chunks(BATCH) {
        ids.extend(batch(api, chunk)?);
    }
    if ids.len() > MAX_RECORDS {
        return Err(ToolError::failed(format!(
            "{api} names {} advisories, over the {MAX_RECORDS} fetched per run; mount the records at /advisories instead",
            ids.len()
        )));
    }
    ids.iter().map(|id| record(api, id)).collect()
}

fn batch(api: &str, queries: &[Query]) -> Result<Vec<String>, ToolError> {
    let body: Vec<serde_json::Value> = queries
        .iter()
        .map(|q| {
            serde_json::json!({
                "package": { "name": q.name, "ecosystem": q.ecosystem.osv_name() },
                "version": q.version,
            })
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "queries": body })).map_err(ToolError::failed)?;
    let url = format!("{api}/v1/querybatch");
    let response =
        Request::post(&url, body).header("content-type", "application/json").send(MAX_BATCH_RESPONSE)?;
    let batch: BatchResponse = parse(&url, response.status, response.truncated, &response.body)?;
    if batch.results.len() != queries.len() {
        return Err(ToolError::failed(format!(
            "{url} answered {} results for {} packages",
            batch.results.len(),
            queries.len()
        )));
    }
    let mut ids = Vec::new();
    for (query, result) in queries.iter().zip(batch.results) {
        if result.next_page_token.is_some() {
            return Err(ToolError::failed(format!(
                "{url} has more advisories for {} {} than one page; mount the records at /advisories instead",
                query.name, query.version
            )));
        }
        ids.extend(result.vulns.into_iter().map(|v| v.id));
    }
    Ok(ids)
}

fn record(api: &str, id: &str) -> Result<Record, ToolError> {
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) {
        return Err(ToolError::failed(format!("{api} named an advisory id that is not one: {id:?}")));
    }
    let url = format!("{api}/v1/vulns/{id}");
    let response = Request::get(&url).send(MAX_RECORD)?;
    let record: Record = parse(&url, response.status, response.truncated, &response.body)?;
    if record.id != id {
        return Err(ToolError::failed(format!("{url} answered the record of {}", record.id)));
    }
    Ok(record)
}

fn parse<T: serde::de::DeserializeOwned>(
    url: &str,
    status: u16,
    truncated: bool,
    body: &[u8],
) -> Result<T, ToolError> {
    if status != 200 {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        return Err(ToolError::failed(format!("{url} answered {status}: {text}")));
    }
    if truncated {
        return Err(ToolError::failed(format!("{url} answered more than the tool reads")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ToolError::failed(format!("{url} answered something else than OSV JSON: {e}")))
}
