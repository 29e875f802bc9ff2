//! The MCP request handler: `tools/list` filtered by the caller's identity,
//! `tools/call` validated, authorised and run in a fresh sandbox.
#![allow(
    deprecated,
    reason = "MCP logging (`logging/setLevel`) is deprecated by SEP-2577 but still in the 2025-11-25 revision served"
)]

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use airlock_approval::MCP_META_KEY;
use airlock_audit::{AuditSink, DEFAULT_REFUSAL_WINDOW, RefusalLog};
use airlock_gateway::{CallReport, CallRequest, Caller, Credential, Ended, Gateway, ToolRef};
use airlock_host::{CallError, CallOutcome, ToolError, Watcher};
use airlock_policy::text::excerpt;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, LoggingLevel, PaginatedRequestParams, ProgressToken, ProtocolVersion, RequestMetaObject,
    ServerCapabilities, ServerConfig, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::catalog::{Catalog, CatalogTool};
use crate::gate::{Gate, OfferSource};
use crate::identity::TokenFile;
use crate::live;

/// The MCP protocol revisions served: the latest `rmcp` supports and the
/// one before it (the last with the `initialize` handshake).
pub const PROTOCOL_VERSIONS: &[ProtocolVersion] =
    &[ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];

/// Most characters of a client-chosen name (an unknown tool's) that are
/// logged, recorded or echoed.
const MAX_SHOWN_NAME: usize = 128;

/// What an agent is told when a tool is unknown or not permitted to it:
/// the same words for both, so the answer does not reveal which tools
/// exist for others, and nothing about how to obtain more authority.
fn not_available(name: &str) -> String {
    format!("tool `{name}` is not available to this identity")
}

/// The server: one per process, cheap to clone into each session.
#[derive(Clone)]
pub struct AirlockServer {
    shared: Arc<Shared>,
}

struct Shared {
    /// The tools, policies and offers in force; a reload swaps it whole.
    /// Each request works with the set it started with.
    current: RwLock<Arc<Served>>,
    audit: Arc<dyn AuditSink>,
    identity: IdentitySource,
    /// The stdio client, once it has initialised: told when the tool list
    /// changes.
    stdio_peer: Mutex<Option<Peer<RoleServer>>>,
    /// What else must answer for the server to be ready (the state
    /// backend), if anything.
    readiness: RwLock<Option<Arc<dyn Readiness>>>,
    refusals: Arc<RefusalLog>,
    in_flight: AtomicUsize,
    /// The stdio client's `logging/setLevel` (the session outlives a
    /// rotated token, so it is not kept with the caller as over HTTP).
    stdio_log_level: AtomicU8,
}

/// Something the server needs besides its tools, checked by `/readyz`.
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when it answers; otherwise why not (shown to the prober).
    fn check(&self) -> Result<(), String>;
}

/// One consistent set of what is served: the tools, the gateway (policies,
/// approvals) and the offers.
struct Served {
    catalog: Catalog,
    gateway: Gateway,
    offers: Box<dyn OfferSource>,
}

/// What a reload changed in the tool list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ToolChanges {
    /// Tools served now that were not before.
    pub added: Vec<String>,
    /// Tools no longer served.
    pub removed: Vec<String>,
}

/// Where the caller of a request comes from.
enum IdentitySource {
    /// The bearer-token middleware put an `Arc<Caller>` in the HTTP
    /// request's extensions.
    HttpBearer,
    /// Fixed at launch for the whole stdio session.
    TokenFile(TokenFile),
}

impl AirlockServer {
    /// A server for HTTP: each request's caller comes from its bearer
    /// token (see [`crate::http`]). Every call is recorded in `audit`.
    pub fn for_http(catalog: Catalog, gate: Gate, audit: Arc<dyn AuditSink>) -> Self {
        Self::new(catalog, gate, IdentitySource::HttpBearer, audit)
    }

    /// A server for stdio: every request is made by the identity in
    /// `token_file`. Every call is recorded in `audit`.
    pub fn for_stdio(catalog: Catalog, gate: Gate, token_file: TokenFile, audit: Arc<dyn AuditSink>) -> Self {
        Self::new(catalog, gate, IdentitySource::TokenFile(token_file), audit)
    }

    fn new(catalog: Catalog, gate: Gate, identity: IdentitySource, audit: Arc<dyn AuditSink>) -> Self {
        let refusals = Arc::new(RefusalLog::new(audit.clone(), DEFAULT_REFUSAL_WINDOW));
        let (gateway, offers) = gate.into_gateway(audit.clone());
        Self {
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(Served { catalog, gateway, offers })),
                audit,
                identity,
                stdio_peer: Mutex::new(None),
                readiness: RwLock::new(None),
                refusals,
                in_flight: AtomicUsize::new(0),
                stdio_log_level: AtomicU8::new(0),
            }),
        }
    }

    /// Where refused tokens are recorded (rate-limited per kind): shared
    /// with the HTTP front, which refuses bearer tokens before a request
    /// reaches this handler.
    pub fn refusals(&self) -> Arc<RefusalLog> {
        self.shared.refusals.clone()
    }

    /// Calls running right now.
    pub fn calls_in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Checks `readiness` too from now on (replacing any before).
    pub fn set_readiness(&self, readiness: Option<Arc<dyn Readiness>>) {
        *self.shared.readiness.write().unwrap_or_else(PoisonError::into_inner) = readiness;
    }

    /// Ready to serve calls: tools are loaded and what
    /// [`AirlockServer::set_readiness`] named answers.
    pub fn ready(&self) -> Result<(), String> {
        if self.tool_count() == 0 {
            return Err("no tools loaded".to_owned());
        }
        let readiness = self.shared.readiness.read().unwrap_or_else(PoisonError::into_inner).clone();
        readiness.map_or(Ok(()), |readiness| readiness.check())
    }

    /// Whether a tool served now was loaded from `path`.
    pub fn serves(&self, path: &std::path::Path) -> bool {
        self.served().catalog.iter().any(|tool| tool.path == path)
    }

    /// The number of tools served now.
    pub fn tool_count(&self) -> usize {
        self.served().catalog.len()
    }

    /// Serves `catalog` through `gate` from the next request on, as one
    /// swap: calls already running finish with the tools and policies they
    /// started with, and no decision taken under the old policies is
    /// reused. A stdio client is sent `notifications/tools/list_changed`
    /// when tools were added or removed (HTTP clients see the new list on
    /// their next `tools/list`).
    pub fn reload(&self, catalog: Catalog, gate: Gate) -> ToolChanges {
        let (gateway, offers) = gate.into_gateway(self.shared.audit.clone());
        let served = Arc::new(Served { catalog, gateway, offers });
        let old = {
            let mut current = self.shared.current.write().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *current, served.clone())
        };
        let changes = ToolChanges {
            added: names(&served.catalog)
                .filter(|n| old.catalog.get(n).is_none())
                .map(str::to_owned)
                .collect(),
            removed: names(&old.catalog)
                .filter(|n| served.catalog.get(n).is_none())
                .map(str::to_owned)
                .collect(),
        };
        if changes != ToolChanges::default() {
            let peer = self.shared.stdio_peer.lock().unwrap_or_else(PoisonError::into_inner).clone();
            if let Some(peer) = peer {
                tokio::spawn(async move {
                    if let Err(error) = peer.notify_tool_list_changed().await {
                        tracing::warn!(%error, "cannot tell the client the tool list changed");
                    }
                });
            }
        }
        changes
    }

    /// Verifies the stdio token with `verifier` from now on (a reloaded
    /// trust configuration); over HTTP the bearer-token front verifies.
    pub fn replace_verifier(&self, verifier: Arc<airlock_identity::Verifier>) {
        if let IdentitySource::TokenFile(file) = &self.shared.identity {
            file.replace_verifier(verifier);
        }
    }

    /// The set in force now.
    fn served(&self) -> Arc<Served> {
        self.shared.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Arc<Caller>, String> {
        match &self.shared.identity {
            IdentitySource::HttpBearer => context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Arc<Caller>>())
                .cloned()
                .ok_or_else(|| "the request carries no verified identity".to_owned()),
            IdentitySource::TokenFile(file) => file.caller().map_err(|e| {
                // Escaped and cut by the server's log writer, recorded cut.
                let error = e.to_string();
                tracing::warn!(%error, "stdio identity refused");
                if let Err(failed) = self.shared.refusals.refused("mcp-stdio", e.kind(), &error) {
                    tracing::error!(error = %failed, "cannot record the refused identity in the audit log");
                }
                format!("identity refused: {e}")
            }),
        }
    }

    /// Where the level the client of `caller` asked tool log lines at is
    /// kept: with the caller (its token) over HTTP, with the session over
    /// stdio.
    fn log_level<'a>(&'a self, caller: &'a Caller) -> &'a AtomicU8 {
        match self.shared.identity {
            IdentitySource::HttpBearer => caller.log_level(),
            IdentitySource::TokenFile(_) => &self.shared.stdio_log_level,
        }
    }

    /// The tools `caller` may invoke.
    fn visible_to(&self, caller: &Caller) -> Vec<rmcp::model::Tool> {
        let served = self.served();
        served
            .catalog
            .iter()
            .filter(|tool| match served.gateway.authorize(caller, tool_ref(tool)) {
                Ok(authorized) => authorized.decision.invoke_allowed(),
                Err(error) => {
                    tracing::error!(tool = %tool.identity.name, %error, "policy evaluation failed; tool hidden");
                    false
                }
            })
            .map(|tool| tool.listing().clone())
            .collect()
    }

    /// Runs one call through the gateway (which records it, whatever its
    /// outcome) and answers the agent. A call whose record cannot be
    /// written is reported to the agent as failed.
    async fn call(
        &self,
        caller: &Caller,
        params: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let name = params.name.to_string();
        // The name is the client's: logged and recorded escaped and cut.
        let shown = excerpt(&name, MAX_SHOWN_NAME).into_owned();
        let presented = approval_id(&params, context);
        let arguments = Value::Object(params.arguments.unwrap_or_default());
        let input = arguments.to_string();
        let served = self.served();
        let gateway = &served.gateway;
        let unrecorded = |error: String| {
            tracing::error!(%error, tool = %shown, "cannot write the audit record");
            failure(format!("the call to `{shown}` could not be recorded in the audit log"))
        };
        let Some(tool) = served.catalog.get(&name) else {
            let not_started = gateway.record_not_started(
                self.transport(),
                Credential::Caller(caller),
                &shown,
                &input,
                airlock_audit::Outcome::Refused,
                "no such tool",
            );
            return match not_started.await {
                Ok(call_id) => {
                    let span = tracing::info_span!("call", call_id = %call_id);
                    let _in_call = span.enter();
                    tracing::info!(sub = %caller.principal().sub(), tool = %shown, "call refused: no such tool");
                    failure(not_available(&shown))
                }
                Err(error) => unrecorded(error),
            };
        };
        let resubmit = format!("the request id in the call's `_meta` as `\"{MCP_META_KEY}\": \"ID\"`");
        let wanted = live::Wanted {
            threshold: request_log_level(params.meta.as_ref(), context)
                .map_or_else(|| self.log_level(caller).load(Ordering::Relaxed), live::rank),
            progress: progress_token(params.meta.as_ref(), context),
        };
        let live = live::forward(context.peer.clone(), &tool.identity.name, wanted);
        let request = CallRequest {
            transport: self.transport(),
            credential: Credential::Caller(caller),
            tool: tool_ref(tool),
            input: &input,
            parsed_input: Some(&arguments),
            approval: presented,
            resubmit: &resubmit,
            hosts: &[],
            workspace: None,
            watcher: live.as_ref().map(|(forwarder, _)| forwarder.clone() as Arc<dyn Watcher>),
        };
        let _running = InFlight::enter(&self.shared.in_flight);
        let report =
            gateway.call(request, |loaded| served.offers.offer(loaded), context.ct.cancelled()).await;
        // Everything is sent before the result: the forwarder's last holder
        // is gone with the call, so its queue ends.
        if let Some((forwarder, sending)) = live {
            drop(forwarder);
            let _ = sending.await;
        }
        // The server's log lines about the call carry its audit record's id.
        let span = tracing::info_span!("call", call_id = %report.call_id);
        let _in_call = span.enter();
        match report.recorded {
            Ok(()) => reply(tool, caller, report),
            Err(ref error) => unrecorded(error.clone()),
        }
    }

    fn transport(&self) -> &'static str {
        match self.shared.identity {
            IdentitySource::HttpBearer => "mcp-http",
            IdentitySource::TokenFile(_) => "mcp-stdio",
        }
    }
}

fn names(catalog: &Catalog) -> impl Iterator<Item = &str> {
    catalog.iter().map(|tool| tool.identity.name.as_str())
}

/// How the gateway sees a catalog tool.
fn tool_ref(tool: &CatalogTool) -> ToolRef<'_> {
    ToolRef { loaded: &tool.tool, identity: &tool.identity }
}

/// The agent's answer to a call the gateway ran (or ended), with the
/// server's log line for it.
fn reply(tool: &CatalogTool, caller: &Caller, report: CallReport) -> CallToolResult {
    let name = &tool.identity.name;
    let sub = caller.principal().sub();
    match report.ended {
        Ended::BadRequest(error) | Ended::PolicyError(error) => {
            tracing::error!(%sub, tool = %name, %error, "policy evaluation failed");
            failure(format!("the call to `{name}` could not be authorised"))
        }
        Ended::NotInvocable => {
            let decision = report.decision.as_deref().map(ToString::to_string).unwrap_or_default();
            tracing::info!(%sub, tool = %name, %decision, "call denied by policy");
            failure(not_available(name))
        }
        Ended::InvalidInput(problems) => failure(format!("invalid arguments for `{name}`: {problems}")),
        Ended::NotPrepared(error) => {
            tracing::error!(%sub, tool = %name, %error, "cannot prepare the call's grants");
            failure(format!("the call to `{name}` could not be prepared"))
        }
        Ended::ApprovalUnchecked(error) => {
            tracing::error!(%sub, tool = %name, %error, "cannot check the call's approval");
            failure(format!("the call to `{name}` needs approval, which could not be checked"))
        }
        Ended::ApprovalRequired(message) => {
            tracing::info!(%sub, tool = %name, "call filed for approval");
            let mut result = failure(message);
            if let Some(record) = &report.approval {
                result.structured_content = Some(serde_json::json!({
                    "approval_required": { "request_id": record.id, "request_hash": record.request_hash }
                }));
            }
            result
        }
        Ended::NotStaged(error) => {
            tracing::error!(%sub, tool = %name, %error, "cannot stage the call's workspace");
            failure(format!("the call to `{name}` could not be prepared"))
        }
        Ended::Cancelled => {
            tracing::info!(%sub, tool = %name, "call cancelled by the client");
            failure(format!("the call to `{name}` was cancelled"))
        }
        Ended::Ran(outcome) => {
            if let Some(approval) = &report.approval {
                tracing::warn!(%sub, tool = %name, id = %approval.id, "call ran on an approval");
            }
            let withheld = report.decision.is_some_and(|d| d.denials().next().is_some());
            answer(tool, sub, *outcome, withheld)
        }
    }
}

/// The log level a call asks for in `_meta` (`io.modelcontextprotocol/logLevel`,
/// the 2026-07-28 revision's per-request form of `logging/setLevel`), if any:
/// it applies to that call only.
fn request_log_level(
    meta: Option<&RequestMetaObject>,
    context: &RequestContext<RoleServer>,
) -> Option<LoggingLevel> {
    meta.and_then(RequestMetaObject::log_level).or_else(|| context.meta.log_level())
}

/// The `progressToken` a call carries in `_meta`, if any.
fn progress_token(
    meta: Option<&RequestMetaObject>,
    context: &RequestContext<RoleServer>,
) -> Option<ProgressToken> {
    meta.and_then(RequestMetaObject::get_progress_token).or_else(|| context.meta.get_progress_token())
}

/// The approval id a re-submitted call carries in `_meta`, if any.
fn approval_id(params: &CallToolRequestParams, context: &RequestContext<RoleServer>) -> Option<String> {
    params
        .meta
        .as_ref()
        .and_then(|meta| meta.get(MCP_META_KEY))
        .or_else(|| context.meta.get(MCP_META_KEY))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Counts a running call for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A result with `isError: true` and one text block.
fn failure(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// Added to a failed call's message when policy withheld part of what the
/// tool requested: it explains a missing directory or host without saying
/// which rule withheld it or how to get it.
const WITHHELD_NOTE: &str = " (part of what the tool requested is not granted to this identity)";

/// The MCP result for a finished (or ended) call. Guest stdout, stderr and
/// logs stay on the server: they are counted in the server log, never sent
/// on the transport.
fn answer(
    tool: &CatalogTool,
    sub: &str,
    outcome: Result<CallOutcome, CallError>,
    withheld: bool,
) -> CallToolResult {
    let name = &tool.identity.name;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(CallError::Limit(limit)) => {
            tracing::info!(%sub, tool = %name, %limit, "call stopped at a limit");
            return failure(format!("the call to `{name}` was stopped: {limit}"));
        }
        Err(CallError::Trap(trap)) => {
            tracing::info!(%sub, tool = %name, %trap, "tool trapped");
            return failure(format!("tool `{name}` crashed: {trap}"));
        }
        Err(CallError::Busy(reason)) => {
            tracing::warn!(%sub, tool = %name, %reason, "runtime busy");
            return failure("the server is at capacity; retry later".to_owned());
        }
        Err(error) => {
            tracing::error!(%sub, tool = %name, %error, "call could not start");
            return failure(format!("the call to `{name}` could not be started"));
        }
    };
    for refusal in &outcome.network.refusals {
        tracing::info!(%sub, tool = %name, %refusal, "tool network request refused");
    }
    // Every call is in the audit log; this line is for debugging only
    // (formatting and writing it on every call costs the round trip).
    tracing::debug!(
        %sub,
        tool = %name,
        elapsed_ms = outcome.elapsed.as_millis() as u64,
        stdout_bytes = outcome.stdout.bytes.len(),
        stderr_bytes = outcome.stderr.bytes.len(),
        log_lines = outcome.logs.len(),
        ok = outcome.result.is_ok(),
        "call finished"
    );
    let blocks = outcome.content.into_iter().map(crate::content::to_mcp);
    match outcome.result {
        Ok(output) => {
            let mut result = match serde_json::from_str::<Value>(&output) {
                Ok(value @ Value::Object(_)) => CallToolResult::structured(value),
                _ => CallToolResult::success(vec![ContentBlock::text(output)]),
            };
            result.content.extend(blocks);
            result
        }
        Err(error @ ToolError::Denied(_)) => failure(format!("tool `{name}`: {error}")),
        Err(error) => {
            let note = if withheld { WITHHELD_NOTE } else { "" };
            failure(format!("tool `{name}`: {error}{note}"))
        }
    }
}

impl ServerHandler for AirlockServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder().enable_tools().enable_tool_list_changed().enable_logging().build(),
        )
        .with_server_info(Implementation::new("airlock", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "airlock runs each tool call in a fresh WebAssembly sandbox. The tools listed are the ones \
                 your identity may invoke; what each call may touch is decided by the operator's policy.",
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = self.caller(&context).map_err(|e| McpError::invalid_request(e, None))?;
        // The list depends on who asks: only that client may cache it.
        Ok(ListToolsResult::with_all_items(self.visible_to(&caller)).with_cache_scope(CacheScope::Private))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let IdentitySource::TokenFile(_) = self.shared.identity {
            *self.shared.stdio_peer.lock().unwrap_or_else(PoisonError::into_inner) = Some(context.peer);
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = self.caller(&context).map_err(|e| McpError::invalid_request(e, None))?;
        self.log_level(&caller).store(live::rank(request.level), Ordering::Relaxed);
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let result = match self.caller(&context) {
            Ok(caller) => self.call(&caller, request, &context).await,
            Err(error) => failure(error),
        };
        Ok(result.into())
    }
}
