//! The MCP request handler: `tools/list` filtered by the caller's identity,
//! `tools/call` validated, authorised and run in a fresh sandbox.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use airlock_approval::{Clearance, MCP_META_KEY};
use airlock_audit::{
    AuditSink, CallApproval, CallEvent, DEFAULT_REFUSAL_WINDOW, Ending, Event, Outcome, RefusalLog,
};
use airlock_host::{CallError, CallOutcome, ToolError};
use airlock_policy::GrantSet;
use airlock_policy::authz::{Decision, ToolIdentity};
use airlock_policy::text::excerpt;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::caller::Caller;
use crate::catalog::{Catalog, CatalogTool};
use crate::gate::Gate;
use crate::identity::TokenFile;

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
    catalog: Catalog,
    gate: Gate,
    identity: IdentitySource,
    audit: Arc<dyn AuditSink>,
    refusals: Arc<RefusalLog>,
    in_flight: AtomicUsize,
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
        Self {
            shared: Arc::new(Shared {
                catalog,
                gate,
                identity,
                audit,
                refusals,
                in_flight: AtomicUsize::new(0),
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

    /// The tools loaded.
    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
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

    /// The tools `caller` may invoke.
    fn visible_to(&self, caller: &Caller) -> Vec<rmcp::model::Tool> {
        self.shared
            .catalog
            .iter()
            .filter(|tool| match self.shared.gate.authorize(caller, tool) {
                Ok(authorized) => authorized.decision.invoke_allowed(),
                Err(error) => {
                    tracing::error!(tool = %tool.identity.name, %error, "policy evaluation failed; tool hidden");
                    false
                }
            })
            .map(|tool| tool.listing().clone())
            .collect()
    }

    /// Runs one call and records it, whatever its outcome. A call whose
    /// record cannot be written is reported to the agent as failed.
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
        let (ran, identity) = match self.shared.catalog.get(&name) {
            Some(tool) => {
                (self.run(caller, tool, &arguments, &input, presented, context).await, tool.identity.clone())
            }
            None => {
                tracing::info!(sub = %caller.principal().sub(), tool = %shown, "call refused: no such tool");
                let unknown =
                    ToolIdentity { name: shown.clone(), version: String::new(), digest: String::new() };
                let ending = Ending::before_start(Outcome::Refused, "no such tool");
                (Ran::before(failure(not_available(&shown)), None, ending), unknown)
            }
        };
        let Ran { result, decision, ending, approval } = ran;
        let event = CallEvent::new(
            self.transport(),
            Some(caller.principal()),
            &identity,
            decision.as_deref(),
            &input,
            ending,
        )
        .with_approval(approval);
        // An fsync can take a millisecond: keep it off the async workers.
        let audit = self.shared.audit.clone();
        let written = tokio::task::spawn_blocking(move || audit.append(Event::Call(Box::new(event)))).await;
        match written {
            Ok(Ok(_)) => result,
            Ok(Err(error)) => {
                tracing::error!(%error, tool = %shown, "cannot write the audit record");
                failure(format!("the call to `{shown}` could not be recorded in the audit log"))
            }
            Err(error) => {
                tracing::error!(%error, tool = %shown, "the audit writer failed");
                failure(format!("the call to `{shown}` could not be recorded in the audit log"))
            }
        }
    }

    /// Authorises, validates, clears (approval) and runs a call.
    async fn run(
        &self,
        caller: &Caller,
        tool: &CatalogTool,
        arguments: &Value,
        input: &str,
        presented: Option<String>,
        context: &RequestContext<RoleServer>,
    ) -> Ran {
        let name = &tool.identity.name;
        let sub = caller.principal().sub();
        let authorized = match self.shared.gate.authorize(caller, tool) {
            Ok(authorized) => authorized,
            Err(error) => {
                tracing::error!(%sub, tool = %name, %error, "policy evaluation failed");
                let message = format!("the call to `{name}` could not be authorised");
                return Ran::before(
                    failure(message.clone()),
                    None,
                    Ending::before_start(Outcome::Internal, &message),
                );
            }
        };
        let decision = Some(authorized.decision.clone());
        if !authorized.decision.invoke_allowed() {
            tracing::info!(%sub, tool = %name, decision = %authorized.decision, "call denied by policy");
            let ending = Ending::before_start(Outcome::Refused, "policy denies invoking the tool");
            return Ran::before(failure(not_available(name)), decision, ending);
        }
        if let Err(problems) = tool.validate(arguments) {
            let message = format!("invalid arguments for `{name}`: {problems}");
            return Ran::before(
                failure(message.clone()),
                decision,
                Ending::before_start(Outcome::InvalidInput, &message),
            );
        }
        let grants = match self.shared.gate.grants(&authorized, tool) {
            Ok(grants) => grants,
            Err(error) => {
                tracing::error!(%sub, tool = %name, %error, "cannot prepare the call's grants");
                let ending = Ending::before_start(Outcome::Internal, &error);
                return Ran::before(
                    failure(format!("the call to `{name}` could not be prepared")),
                    decision,
                    ending,
                );
            }
        };
        let clearance = match self.clear(caller, &authorized.decision, &grants, input, presented).await {
            Ok(clearance) => clearance,
            Err(error) => {
                tracing::error!(%sub, tool = %name, %error, "cannot check the call's approval");
                let message = format!("the call to `{name}` needs approval, which could not be checked");
                return Ran::before(
                    failure(message.clone()),
                    decision,
                    Ending::before_start(Outcome::Internal, &message),
                );
            }
        };
        let approval = clearance.audit_record();
        let resubmit = format!("the request id in the call's `_meta` as `\"{MCP_META_KEY}\": \"ID\"`");
        if let Some(message) = clearance.message(&resubmit) {
            tracing::info!(%sub, tool = %name, "call filed for approval");
            let ending = Ending::before_start(Outcome::ApprovalRequired, &message);
            let mut result = failure(message);
            if let Some(record) = &approval {
                result.structured_content = Some(serde_json::json!({
                    "approval_required": { "request_id": record.id, "request_hash": record.request_hash }
                }));
            }
            return Ran { result, decision, ending, approval };
        }
        if let Clearance::Cleared { authority, .. } = &clearance {
            tracing::warn!(%sub, tool = %name, ?authority, "call runs on an approval");
        }
        let _running = InFlight::enter(&self.shared.in_flight);
        let started = Instant::now();
        tokio::select! {
            outcome = tool.tool.call(&grants, input) => {
                let ending = airlock_host::audit::ending(&outcome, started.elapsed());
                let withheld = authorized.decision.denials().next().is_some();
                Ran { result: answer(tool, sub, outcome, withheld), decision, ending, approval }
            }
            () = context.ct.cancelled() => {
                // Dropping the call future drops its store: the instance is gone.
                tracing::info!(%sub, tool = %name, "call cancelled by the client");
                let message = format!("the call to `{name}` was cancelled");
                let ending = Ending {
                    duration_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
                    ..Ending::before_start(Outcome::Cancelled, &message)
                };
                Ran { result: failure(message), decision, ending, approval }
            }
        }
    }

    /// The approval check, on the blocking pool when it touches the store.
    async fn clear(
        &self,
        caller: &Caller,
        decision: &Arc<Decision>,
        grants: &GrantSet,
        input: &str,
        presented: Option<String>,
    ) -> Result<Clearance, String> {
        if decision.needing_approval().next().is_none() {
            return Ok(Clearance::NotNeeded);
        }
        let (shared, principal, decision, grants, input) = (
            self.shared.clone(),
            caller.principal().clone(),
            decision.clone(),
            grants.clone(),
            input.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            shared.gate.clear(&principal, &decision, &grants, &input, presented.as_deref())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    fn transport(&self) -> &'static str {
        match self.shared.identity {
            IdentitySource::HttpBearer => "mcp-http",
            IdentitySource::TokenFile(_) => "mcp-stdio",
        }
    }
}

/// How a call went: the agent's result, the decision (if one was taken),
/// the audit ending and, when it needed approval, how that was handled.
struct Ran {
    result: CallToolResult,
    decision: Option<Arc<Decision>>,
    ending: Ending,
    approval: Option<CallApproval>,
}

impl Ran {
    /// A call that ended before any approval check or run.
    fn before(result: CallToolResult, decision: Option<Arc<Decision>>, ending: Ending) -> Self {
        Self { result, decision, ending, approval: None }
    }
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
    tracing::info!(
        %sub,
        tool = %name,
        elapsed_ms = outcome.elapsed.as_millis() as u64,
        stdout_bytes = outcome.stdout.bytes.len(),
        stderr_bytes = outcome.stderr.bytes.len(),
        log_lines = outcome.logs.len(),
        ok = outcome.result.is_ok(),
        "call finished"
    );
    match outcome.result {
        Ok(output) => match serde_json::from_str::<Value>(&output) {
            Ok(value @ Value::Object(_)) => CallToolResult::structured(value),
            _ => CallToolResult::success(vec![ContentBlock::text(output)]),
        },
        Err(error @ ToolError::Denied(_)) => failure(format!("tool `{name}`: {error}")),
        Err(error) => {
            let note = if withheld { WITHHELD_NOTE } else { "" };
            failure(format!("tool `{name}`: {error}{note}"))
        }
    }
}

impl ServerHandler for AirlockServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
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
