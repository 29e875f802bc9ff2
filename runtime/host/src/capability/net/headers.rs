//! The per-call budget of HTTP header bytes a tool builds.
//!
//! A `fields` resource is host memory: wasmtime-wasi-http caps one at 32 KiB
//! (`MAX_FIELDS_BYTES`), but a call may hold thousands (`Limits::handles`),
//! and so is an `outgoing-request`'s method, scheme, authority and path.
//! [`add_headers_guard`] puts the call's header budget
//! (`NetLimits::header_bytes`) in front of every `wasi:http/types` function
//! that puts such bytes in the host's memory: `fields.from-list`,
//! `fields.set`, `fields.append`, `fields.clone` and the four
//! `outgoing-request` setters. The budget counts bytes built over the whole
//! call, never given back: a tool sends at most `NetLimits::requests`
//! requests, and their headers fit in far less. Past it the call ends with a
//! limit (`host resources`).

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::p2::HeaderError;
use wasmtime_wasi_http::p2::bindings::http::types::{self, HostFields, HostOutgoingRequest, Method, Scheme};
use wasmtime_wasi_http::p2::types::HostOutgoingRequest as OutgoingRequest;
use wasmtime_wasi_http::{FieldMap, WasiHttpView};

use crate::state::HostState;

/// The `wasi:http/types` instance whose header builders are charged (the
/// version wasmtime-wasi-http 48 defines; guests importing any 0.2.x match
/// it).
const HTTP_TYPES: &str = "wasi:http/types@0.2.12";

/// The call built more header bytes than its budget. Raised as the host
/// call's error: it ends the call with `LimitExceeded::Headers`.
#[derive(Debug, thiserror::Error)]
#[error("header budget of {0} bytes spent")]
pub(crate) struct HeadersExhausted(pub(crate) u64);

/// Header bytes one call has built, against its budget.
pub(crate) struct HeaderBudget {
    limit: u64,
    built: u64,
}

impl HeaderBudget {
    pub(crate) fn new(limit: u64) -> Self {
        Self { limit, built: 0 }
    }

    /// Charges `bytes` more; refuses when they would pass the budget.
    fn charge(&mut self, bytes: usize) -> Result<(), HeadersExhausted> {
        let built = self.built.saturating_add(bytes as u64);
        if built > self.limit {
            return Err(HeadersExhausted(self.limit));
        }
        self.built = built;
        Ok(())
    }
}

/// Replaces wasmtime-wasi-http's `fields.from-list`, `fields.set`,
/// `fields.append`, `fields.clone` and `outgoing-request.set-method`,
/// `set-scheme`, `set-authority` and `set-path-with-query` with ones that
/// first charge the bytes they add to the call's header budget.
pub(crate) fn add_headers_guard(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut http_types = linker.instance(HTTP_TYPES)?;
    http_types.func_wrap(
        "[static]fields.from-list",
        |mut store, (entries,): (Vec<(String, Vec<u8>)>,)| {
            let state = store.data_mut();
            state.headers.charge(entries.iter().map(|(name, value)| name.len() + value.len()).sum())?;
            Ok((header_result(HostFields::from_list(&mut state.http(), entries))?,))
        },
    )?;
    http_types.func_wrap(
        "[method]fields.set",
        |mut store, (fields, name, values): (Resource<FieldMap>, String, Vec<Vec<u8>>)| {
            let state = store.data_mut();
            state
                .headers
                .charge(name.len() * values.len().max(1) + values.iter().map(Vec::len).sum::<usize>())?;
            Ok((header_result(HostFields::set(&mut state.http(), fields, name, values))?,))
        },
    )?;
    http_types.func_wrap(
        "[method]fields.append",
        |mut store, (fields, name, value): (Resource<FieldMap>, String, Vec<u8>)| {
            let state = store.data_mut();
            state.headers.charge(name.len() + value.len())?;
            Ok((header_result(HostFields::append(&mut state.http(), fields, name, value))?,))
        },
    )?;
    http_types.func_wrap("[method]fields.clone", |mut store, (fields,): (Resource<FieldMap>,)| {
        let state = store.data_mut();
        let size =
            state.table.get(&fields)?.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        state.headers.charge(size)?;
        Ok((HostFields::clone(&mut state.http(), fields)?,))
    })?;
    http_types.func_wrap(
        "[method]outgoing-request.set-method",
        |mut store, (request, method): (Resource<OutgoingRequest>, Method)| {
            let state = store.data_mut();
            state.headers.charge(match &method {
                Method::Other(name) => name.len(),
                _ => 0,
            })?;
            Ok((HostOutgoingRequest::set_method(&mut state.http(), request, method)?,))
        },
    )?;
    http_types.func_wrap(
        "[method]outgoing-request.set-scheme",
        |mut store, (request, scheme): (Resource<OutgoingRequest>, Option<Scheme>)| {
            let state = store.data_mut();
            state.headers.charge(match &scheme {
                Some(Scheme::Other(name)) => name.len(),
                _ => 0,
            })?;
            Ok((HostOutgoingRequest::set_scheme(&mut state.http(), request, scheme)?,))
        },
    )?;
    http_types.func_wrap(
        "[method]outgoing-request.set-authority",
        |mut store, (request, authority): (Resource<OutgoingRequest>, Option<String>)| {
            let state = store.data_mut();
            state.headers.charge(authority.as_ref().map_or(0, String::len))?;
            Ok((HostOutgoingRequest::set_authority(&mut state.http(), request, authority)?,))
        },
    )?;
    http_types.func_wrap(
        "[method]outgoing-request.set-path-with-query",
        |mut store, (request, path): (Resource<OutgoingRequest>, Option<String>)| {
            let state = store.data_mut();
            state.headers.charge(path.as_ref().map_or(0, String::len))?;
            Ok((HostOutgoingRequest::set_path_with_query(&mut state.http(), request, path)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The guest's header error, or the trap wasmtime-wasi-http raised.
fn header_result<T>(result: Result<T, HeaderError>) -> wasmtime::Result<Result<T, types::HeaderError>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => error.downcast().map(Err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_every_byte_built_and_refuses_past_it() {
        let mut budget = HeaderBudget::new(10);
        assert!(budget.charge(6).is_ok());
        assert!(budget.charge(4).is_ok());
        let err = budget.charge(1).expect_err("over");
        assert_eq!(err.to_string(), "header budget of 10 bytes spent");
        assert_eq!(budget.built, 10, "a refused charge is not counted");
    }
}
