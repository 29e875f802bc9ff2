//! MCP JSON-RPC through the real server, over both transports, from one
//! fixed, verified caller.
//!
//! The server serves two tools built from `fixtures/echo-tool.wat`: `echo`,
//! which policy lets the caller invoke, and `hidd`, which it does not.
//!
//! - **stdio**: generated messages (requests, notifications, any line) are
//!   written as newline-delimited JSON, optionally after a valid handshake.
//!   The session ends when the input ends; every line the server writes is
//!   a JSON-RPC 2.0 message, and every response answers a request id that
//!   was sent, no more often than it was sent.
//! - **HTTP**: one request through the whole router (bearer middleware,
//!   streamable HTTP) with a generated `Authorization` header, method,
//!   headers and body. It is let through exactly when it carries one
//!   `Bearer` header holding the caller's token; otherwise it gets `401`
//!   with the challenge, and nothing reaches the handler. Nothing answers
//!   with a server error.
//!
//! On both: `tools/list` never shows `hidd`; `hidd` never runs; every call
//! recorded in the audit log is the fixed caller's, whatever the messages
//! claim; and only `echo` ever runs.
#![no_main]

use std::sync::{Arc, LazyLock, Mutex, Once, PoisonError};
use std::time::Duration;

use airlock_audit::{AuditError, AuditSink, Event, Outcome, Receipt};
use airlock_host::{LoadedTool, Runtime, RuntimeConfig};
use airlock_identity::{
    JwksKeys, LocalKey, MintRequest, ReplayCache, TrustStore, Verifier, VerifierSettings,
};
use airlock_mcp::{AirlockServer, BearerTokens, Catalog, CatalogSource, Gate, OfferSource, TokenFile};
use airlock_policy::Offer;
use airlock_policy::authz::{Authorizer, PolicySource};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const AUDIENCE: &str = "https://airlock.fuzz/mcp";
const ISSUER: &str = "https://issuer.airlock.fuzz";
const SUBJECT: &str = "agent:fuzz";
const ORIGIN: &str = "http://127.0.0.1:1";
/// The tool the caller may invoke, and the one it may not (same length, so
/// one fixture serves both).
const ALLOWED: &str = "echo";
const FORBIDDEN: &str = "hidd";
/// Longest a stdio session or HTTP request may take before it counts as a
/// hang.
const DEADLINE: Duration = Duration::from_secs(20);

/// Keeps every event, so each input's can be checked.
#[derive(Default)]
struct Recorded(Mutex<Vec<Event>>);

impl AuditSink for Recorded {
    fn append(&self, event: Event) -> Result<Receipt, AuditError> {
        let mut events = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        events.push(event);
        Ok(Receipt { seq: events.len() as u64, hash: String::new() })
    }

    fn waits(&self) -> bool {
        false
    }
}

impl Recorded {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct NoOffer;

impl OfferSource for NoOffer {
    fn offer(&self, _: &LoadedTool) -> Result<Offer, String> {
        Ok(Offer::default())
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    audit: Arc<Recorded>,
    stdio: AirlockServer,
    http: axum::Router,
    token: String,
    /// A token from the same key for another audience: well-formed and
    /// signed, and still refused.
    wrong_audience: String,
    _dir: tempfile::TempDir,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let key = LocalKey::generate().expect("key");
    let mut trust = TrustStore::new();
    trust
        .add(ISSUER, Box::new(JwksKeys::from_json(ISSUER, &key.jwks().to_string()).expect("jwks")))
        .expect("trust");
    let mut settings = VerifierSettings::new(AUDIENCE);
    settings.max_lifetime = Duration::from_secs(7 * 24 * 3600);
    let verifier = Arc::new(Verifier::new(trust, settings, ReplayCache::in_memory()).expect("verifier"));
    let mint = |audience: &str| {
        key.mint(&MintRequest {
            issuer: ISSUER.to_owned(),
            audience: audience.to_owned(),
            subject: SUBJECT.to_owned(),
            ttl: Duration::from_secs(6 * 24 * 3600),
            claims: Map::new(),
        })
        .expect("mint")
    };
    // Tokens are single-use across presentations (a replay cache): one for
    // each transport, each then cached by its front.
    let token = mint(AUDIENCE);
    let wrong_audience = mint("https://elsewhere.example/mcp");
    let dir = tempfile::tempdir().expect("tempdir");
    let token_path = dir.path().join("agent.jwt");
    std::fs::write(&token_path, mint(AUDIENCE)).expect("token file");

    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let text = include_str!("../fixtures/echo-tool.wat");
    let sources = [ALLOWED, FORBIDDEN].map(|name| {
        let bytes = wat::parse_str(text.replace("\"echo1.0.0", &format!("\"{name}1.0.0"))).expect("fixture");
        CatalogSource::Component { label: format!("fixture:{name}"), bytes: bytes.into(), signer: None }
    });
    let catalog = || {
        let catalog = rt.block_on(Catalog::load_sources(&runtime, &sources, |_| {})).expect("catalog");
        assert_eq!(catalog.len(), 2, "both fixture tools load");
        catalog
    };
    let gate = || {
        let policy = PolicySource {
            name: "fuzz.cedar".to_owned(),
            text: format!(
                "permit (principal, action == Action::\"invoke\", resource) when {{ principal.sub == \"{SUBJECT}\" && resource.name == \"{ALLOWED}\" }};"
            ),
        };
        Gate::new(Authorizer::new(&[policy]).expect("policy"), NoOffer)
    };
    let audit = Arc::new(Recorded::default());
    let token_file = TokenFile::open(&token_path, verifier.clone()).expect("token file");
    let stdio = AirlockServer::for_stdio(catalog(), gate(), token_file, audit.clone());
    let server = AirlockServer::for_http(catalog(), gate(), audit.clone());
    let http = airlock_mcp::http::router(server, Arc::new(BearerTokens::new(verifier)), ORIGIN);
    World { rt, audit, stdio, http, token, wrong_audience, _dir: dir }
});

/// Any JSON value, at most four levels deep.
#[derive(Debug)]
struct Json(Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        json_value(u, 4).map(Json)
    }
}

fn json_value(u: &mut Unstructured<'_>, depth: u8) -> arbitrary::Result<Value> {
    let pick = if depth == 0 { u.int_in_range(0..=4)? } else { u.int_in_range(0..=6)? };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(u.arbitrary()?),
        5 => Value::Array(
            (0..u.int_in_range(0..=4)?).map(|_| json_value(u, depth - 1)).collect::<Result<_, _>>()?,
        ),
        _ => Value::Object(
            (0..u.int_in_range(0..=4)?)
                .map(|_| Ok((key(u)?, json_value(u, depth - 1)?)))
                .collect::<arbitrary::Result<_>>()?,
        ),
    })
}

/// A member name: mostly the ones MCP and the fixture's schema use.
fn key(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    const KNOWN: &[&str] = &[
        "n",
        "s",
        "tags",
        "name",
        "arguments",
        "_meta",
        "progressToken",
        "level",
        "cursor",
        "protocolVersion",
        "capabilities",
        "clientInfo",
        "io.airlock/approval",
        "io.modelcontextprotocol/logLevel",
        "sub",
        "version",
        "requestId",
        "reason",
        "task",
    ];
    if u.ratio(3, 4)? { Ok((*u.choose(KNOWN)?).to_owned()) } else { u.arbitrary() }
}

#[derive(Arbitrary, Debug)]
enum Id {
    Number(i64),
    Text(String),
    Null,
    Other(Json),
}

impl Id {
    fn value(&self) -> Value {
        match self {
            Id::Number(n) => json!(n),
            Id::Text(s) => json!(s),
            Id::Null => Value::Null,
            Id::Other(Json(v)) => v.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Method {
    Initialize,
    Initialized,
    Ping,
    ToolsList,
    ToolsCall,
    SetLevel,
    Cancelled,
    Progress,
    Other(String),
}

impl Method {
    fn name(&self) -> &str {
        match self {
            Method::Initialize => "initialize",
            Method::Initialized => "notifications/initialized",
            Method::Ping => "ping",
            Method::ToolsList => "tools/list",
            Method::ToolsCall => "tools/call",
            Method::SetLevel => "logging/setLevel",
            Method::Cancelled => "notifications/cancelled",
            Method::Progress => "notifications/progress",
            Method::Other(name) => name,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Tool {
    Allowed,
    Forbidden,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Params {
    Absent,
    Any(Json),
    /// `tools/call`'s shape, with generated arguments and `_meta`.
    Call {
        tool: Tool,
        arguments: Option<Json>,
        meta: Option<Json>,
        n: Option<i64>,
        s: Option<String>,
    },
}

impl Params {
    fn value(&self) -> Option<Value> {
        match self {
            Params::Absent => None,
            Params::Any(Json(v)) => Some(v.clone()),
            Params::Call { tool, arguments, meta, n, s } => {
                let name = match tool {
                    Tool::Allowed => ALLOWED,
                    Tool::Forbidden => FORBIDDEN,
                    Tool::Other(name) => name,
                };
                let mut arguments = match arguments {
                    Some(Json(Value::Object(map))) => map.clone(),
                    _ => Map::new(),
                };
                if let Some(n) = n {
                    arguments.insert("n".into(), json!(n));
                }
                if let Some(s) = s {
                    arguments.insert("s".into(), json!(s));
                }
                let mut params = json!({ "name": name, "arguments": arguments });
                if let Some(Json(meta)) = meta {
                    params["_meta"] = meta.clone();
                }
                Some(params)
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Message {
    Request {
        id: Id,
        method: Method,
        params: Params,
    },
    Notification {
        method: Method,
        params: Params,
    },
    Batch(Vec<(Id, Method, Params)>),
    /// Any line (a newline inside ends it early, as a client's would).
    Line(Vec<u8>),
}

impl Message {
    /// The line to send, and the ids of the requests in it.
    fn encode(&self) -> (Vec<u8>, Vec<Value>) {
        let request = |id: &Id, method: &Method, params: &Params| {
            let mut message = json!({ "jsonrpc": "2.0", "id": id.value(), "method": method.name() });
            if let Some(params) = params.value() {
                message["params"] = params;
            }
            message
        };
        match self {
            Message::Request { id, method, params } => {
                (request(id, method, params).to_string().into_bytes(), vec![id.value()])
            }
            Message::Notification { method, params } => {
                let mut message = json!({ "jsonrpc": "2.0", "method": method.name() });
                if let Some(params) = params.value() {
                    message["params"] = params;
                }
                (message.to_string().into_bytes(), vec![])
            }
            Message::Batch(items) => {
                let batch: Vec<Value> = items.iter().map(|(id, m, p)| request(id, m, p)).collect();
                (
                    Value::Array(batch).to_string().into_bytes(),
                    items.iter().map(|(id, _, _)| id.value()).collect(),
                )
            }
            Message::Line(bytes) => {
                let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default().to_vec();
                // A line that happens to be a request may be answered.
                let ids = serde_json::from_slice::<Value>(&line)
                    .ok()
                    .map(|v| match v {
                        Value::Array(items) => items.iter().filter_map(|i| i.get("id").cloned()).collect(),
                        v => v.get("id").cloned().into_iter().collect(),
                    })
                    .unwrap_or_default();
                (line, ids)
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Auth {
    Missing,
    /// The caller's token, the scheme spelled as `scheme` says, with
    /// spaces around the token.
    Valid {
        scheme: u8,
        before: u8,
        after: u8,
    },
    /// The token twice, in two headers.
    Twice,
    WrongAudience,
    /// The token, cut or changed at one byte.
    Altered {
        at: u16,
        to: u8,
    },
    /// Any header value.
    Any(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct HttpRequest {
    auth: Auth,
    method: u8,
    accept: u8,
    content_type: u8,
    path: u8,
    body: HttpBody,
}

#[derive(Arbitrary, Debug)]
enum HttpBody {
    Message(Box<Message>),
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Input {
    Stdio { handshake: bool, messages: Vec<Message> },
    Http(Box<HttpRequest>),
}

fuzz_target!(|input: Input| {
    let world = &*WORLD;
    SELF_CHECK.call_once(|| self_check(world));
    world.audit.take();
    match input {
        Input::Stdio { handshake, messages } => {
            stdio(world, handshake, &messages);
        }
        Input::Http(request) => http(world, *request),
    }
    check_audit(&world.audit.take());
});

static SELF_CHECK: Once = Once::new();

/// The fixture serves what the properties assume: the caller sees `echo`
/// alone, `echo` runs and answers its arguments, `hidd` is refused.
fn self_check(world: &World) {
    let call = |id: i64, tool: Tool| Message::Request {
        id: Id::Number(id),
        method: Method::ToolsCall,
        params: Params::Call { tool, arguments: None, meta: None, n: Some(7), s: Some("x".into()) },
    };
    let messages = [
        Message::Request { id: Id::Number(1), method: Method::ToolsList, params: Params::Absent },
        call(2, Tool::Allowed),
        call(3, Tool::Forbidden),
    ];
    let replies = stdio(world, true, &messages);
    let reply =
        |id: i64| replies.iter().find(|m| m.get("id") == Some(&json!(id))).expect("every request answered");
    assert_eq!(reply(1).pointer("/result/tools/0/name"), Some(&json!(ALLOWED)), "{replies:?}");
    assert_eq!(
        reply(2).pointer("/result/structuredContent"),
        Some(&json!({"n": 7, "s": "x"})),
        "{replies:?}"
    );
    assert_eq!(reply(3).pointer("/result/isError"), Some(&json!(true)), "{replies:?}");
    let events = world.audit.take();
    let ran = events.iter().filter(|e| matches!(e, Event::Call(c) if c.outcome == Outcome::Ok)).count();
    assert_eq!(ran, 1, "{events:?}");
}

/// Every call on record is the fixed caller's, and only `echo` ever ran.
fn check_audit(events: &[Event]) {
    for event in events {
        let Event::Call(call) = event else { continue };
        let principal = call.principal.as_ref().expect("a call through MCP names its caller");
        assert_eq!(principal.sub, SUBJECT, "the caller comes from the token, never from a message");
        assert_eq!(principal.iss, ISSUER);
        if call.tool.name != ALLOWED {
            assert_eq!(call.outcome, Outcome::Refused, "{} must not run: {call:?}", call.tool.name);
        }
    }
}

/// Runs one stdio session and returns what the server wrote.
fn stdio(world: &World, handshake: bool, messages: &[Message]) -> Vec<Value> {
    let mut sent = Vec::new();
    let mut ids = Vec::new();
    if handshake {
        let hello = json!({"jsonrpc": "2.0", "id": "hello", "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "0"}}});
        sent.extend_from_slice(format!("{hello}\n").as_bytes());
        sent.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
        ids.push(json!("hello"));
    }
    for message in messages {
        let (line, request_ids) = message.encode();
        sent.extend_from_slice(&line);
        sent.push(b'\n');
        ids.extend(request_ids);
    }
    let output = world.rt.block_on(async {
        let (mut client_in, server_out) = tokio::io::duplex(1 << 16);
        let (server_in, mut client_out) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(airlock_mcp::stdio::serve(world.stdio.clone(), server_in, server_out));
        let write = async move {
            // The server may stop reading (it refused the session): what
            // was not taken is simply not sent.
            let _ = client_out.write_all(&sent).await;
            let _ = client_out.shutdown().await;
        };
        let read = async {
            let mut output = Vec::new();
            let _ = client_in.read_to_end(&mut output).await;
            output
        };
        let (_, output) = tokio::time::timeout(DEADLINE, async { tokio::join!(write, read) })
            .await
            .expect("the stdio session ends when its input does");
        // A refused session (no handshake) is an error, not a panic.
        let ended = tokio::time::timeout(DEADLINE, server).await.expect("the server task ends");
        assert!(ended.is_ok(), "the server task panicked: {ended:?}");
        output
    });
    let mut answered = Vec::new();
    let mut replies = Vec::new();
    for line in output.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let message: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
            panic!("the server wrote a line that is not JSON ({e}): {:?}", String::from_utf8_lossy(line))
        });
        check_message(&message, &ids);
        if let Some(id) = response_id(&message) {
            let times_answered = answered.iter().filter(|a| same_id(a, id)).count();
            let times_sent = ids.iter().filter(|s| same_id(s, id)).count();
            assert!(times_answered < times_sent, "request {id} answered more often than it was sent");
            answered.push(id.clone());
        }
        replies.push(message);
    }
    replies
}

/// The id a response answers (`None` for a request or notification, or a
/// response to a message whose id could not be read).
fn response_id(message: &Value) -> Option<&Value> {
    if message.get("method").is_some() {
        return None;
    }
    message.get("id").filter(|id| !id.is_null())
}

/// Whether a response's id is the request's: the same value, a number
/// read back as an integer (`0.0` answered as `0`) included.
fn same_id(sent: &Value, answered: &Value) -> bool {
    match (sent.as_f64(), answered.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => sent == answered,
    }
}

/// A JSON-RPC 2.0 message that answers one of `ids` (if a response), and
/// lists no tool the caller may not invoke.
fn check_message(message: &Value, ids: &[Value]) {
    assert_eq!(message.get("jsonrpc"), Some(&json!("2.0")), "not JSON-RPC 2.0: {message}");
    if let Some(id) = response_id(message) {
        assert!(
            ids.iter().any(|sent| same_id(sent, id)),
            "a response to id {id}, which was never sent ({ids:?}): {message}"
        );
        assert!(
            message.get("result").is_some() != message.get("error").is_some(),
            "a response has exactly one of result and error: {message}"
        );
    }
    if let Some(tools) = message.pointer("/result/tools").and_then(Value::as_array) {
        for tool in tools {
            assert_eq!(
                tool.get("name"),
                Some(&json!(ALLOWED)),
                "tools/list shows a tool not granted: {tool}"
            );
        }
    }
}

fn http(world: &World, request: HttpRequest) {
    use http::{HeaderValue, header};
    let method = [http::Method::POST, http::Method::GET, http::Method::DELETE, http::Method::PUT]
        [usize::from(request.method % 4)]
    .clone();
    let path =
        ["/mcp", "/mcp/", "/mcp/x", "/.well-known/oauth-protected-resource"][usize::from(request.path % 4)];
    let mut builder = http::Request::builder().method(method).uri(path);
    let accept = ["application/json, text/event-stream", "application/json", "text/event-stream", "*/*"];
    if request.accept % 5 != 4 {
        builder = builder.header(header::ACCEPT, accept[usize::from(request.accept % 5)]);
    }
    let content_type = ["application/json", "text/plain", "application/json; charset=utf-8"];
    if request.content_type % 4 != 3 {
        builder = builder.header(header::CONTENT_TYPE, content_type[usize::from(request.content_type % 4)]);
    }
    // The header values sent, and whether the front must let them through.
    let token = world.token.as_str();
    let (values, admitted): (Vec<Vec<u8>>, bool) = match &request.auth {
        Auth::Missing => (vec![], false),
        Auth::Valid { scheme, before, after } => {
            let scheme = ["Bearer", "bearer", "BEARER", "bEaReR"][usize::from(scheme % 4)];
            let (before, after) = (" ".repeat(usize::from(before % 3)), " ".repeat(usize::from(after % 3)));
            (vec![format!("{scheme} {before}{token}{after}").into_bytes()], true)
        }
        Auth::Twice => (vec![format!("Bearer {token}").into_bytes(); 2], false),
        Auth::WrongAudience => (vec![format!("Bearer {}", world.wrong_audience).into_bytes()], false),
        Auth::Altered { at, to } => {
            let mut altered = token.as_bytes().to_vec();
            let at = usize::from(*at) % altered.len();
            if *to == 0 {
                altered.truncate(at)
            } else {
                altered[at] = *to
            }
            let admitted = altered == token.as_bytes();
            (vec![[b"Bearer ".as_slice(), &altered].concat()], admitted)
        }
        // Any value lets the request through only if it names the token.
        Auth::Any(value) => (vec![value.clone()], false),
    };
    let mut sent_values = 0;
    for value in &values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            builder = builder.header(header::AUTHORIZATION, value);
            sent_values += 1;
        }
    }
    let admitted = admitted && sent_values == values.len();
    let (body, ids) = match &request.body {
        HttpBody::Message(message) => message.encode(),
        HttpBody::Bytes(bytes) => (bytes.clone(), vec![]),
    };
    let Ok(built) = builder.body(axum::body::Body::from(body)) else { return };
    let (status, headers, body) = world.rt.block_on(async {
        let response = tokio::time::timeout(DEADLINE, world.http.clone().oneshot(built))
            .await
            .expect("an HTTP request is answered")
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(DEADLINE, axum::body::to_bytes(body, 1 << 24))
            .await
            .expect("the body ends")
            .expect("the body is readable");
        (parts.status, parts.headers, body)
    });
    assert!(!status.is_server_error(), "a server error for a client's request: {status} {body:?}");
    if path.starts_with("/.well-known") {
        return;
    }
    let is_mcp = path == "/mcp" || path.starts_with("/mcp/");
    if !is_mcp {
        return;
    }
    let through = status != http::StatusCode::UNAUTHORIZED;
    if let Auth::Any(value) = &request.auth {
        if through {
            let text = String::from_utf8_lossy(value);
            assert!(text.contains(token), "a header without the token got through: {text:?}");
        }
    } else {
        assert_eq!(through, admitted, "{:?} got {status}: {}", request.auth, String::from_utf8_lossy(&body));
    }
    if !through {
        let challenge = headers.get(header::WWW_AUTHENTICATE).expect("a 401 carries the challenge");
        let challenge = challenge.to_str().expect("the challenge is text");
        assert!(
            challenge.starts_with(&format!("Bearer resource_metadata=\"{ORIGIN}/.well-known/")),
            "{challenge}"
        );
        let events = world.audit.take();
        assert!(
            events.iter().all(|e| !matches!(e, Event::Call(_))),
            "a refused request reached the handler: {events:?}"
        );
        return;
    }
    let json_reply = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_success() && json_reply && !body.is_empty() {
        let reply: Value = serde_json::from_slice(&body).expect("a JSON reply is JSON");
        match &reply {
            Value::Array(items) => items.iter().for_each(|m| check_message(m, &ids)),
            message => check_message(message, &ids),
        }
    }
}
