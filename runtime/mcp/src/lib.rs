//! airlock's MCP server: agents list and call airlock tools over stdio or
//! streamable HTTP, and every call runs in the sandbox with the grants
//! policy derives from **the calling agent's verified identity**.
//!
//! The server is a thin adapter over [`airlock_host`]: it holds a
//! [`Catalog`] of loaded tools, a [`Gate`] (the Cedar [`Authorizer`] plus
//! the operator's [`OfferSource`]) and an identity source:
//!
//! - over HTTP ([`http`]), every request carries `Authorization: Bearer
//!   <JWT>`, verified by [`BearerTokens`]; a missing or invalid token gets
//!   `401` with `WWW-Authenticate` naming the RFC 9728 protected-resource
//!   metadata;
//! - over stdio ([`stdio`]), the identity is fixed at launch by a token
//!   file ([`TokenFile`]), re-read when it is rotated, never taken from what
//!   the client says about itself.
//!
//! `tools/list` shows only the tools the caller may invoke. `tools/call`
//! validates the arguments against the tool's input schema before any
//! instance exists, runs the call, and answers with structured content or a
//! result with `isError: true`. A client that asks (`logging/setLevel`, a
//! `progressToken`) receives the tool's log lines and progress as they come. There is no tool that changes grants or loads
//! code: an agent cannot widen its own authority through this server.
//!
//! [`Authorizer`]: airlock_policy::authz::Authorizer
#![forbid(unsafe_code)]

mod catalog;
mod content;
mod error;
mod gate;
mod handler;
pub mod http;
mod identity;
mod live;
pub mod metrics;
pub mod stdio;
pub mod tls;

pub use airlock_gateway::Caller;
pub use catalog::{Catalog, CatalogSource, CatalogTool, LoadEvent};
pub use error::{CatalogError, IdentityError, ServeError, TlsError};
pub use gate::{Gate, OfferSource};
pub use handler::{AirlockServer, PROTOCOL_VERSIONS, Readiness, ToolChanges};
pub use identity::{BearerTokens, TokenFile};
