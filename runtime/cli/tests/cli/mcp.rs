//! `airlock serve`, end to end, driven as real MCP clients drive it: the
//! official Rust SDK's client over stdio and streamable HTTP, raw HTTP for
//! the authentication edge, and the MCP Inspector CLI (a client nobody here
//! wrote) when it is installed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_identity::{LocalKey, MintRequest};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Map, Value, json};

use super::programs;

pub(super) const AUDIENCE: &str = "https://airlock.test/mcp";
pub(super) const ISSUER: &str = "https://issuer.airlock.test";
const CANARY: &str = "MCP-CANARY-9d41";

/// alice may do everything; the bot may invoke three tools and read
/// nothing; strangers get nothing.
pub(super) const POLICY: &str = r#"
@id("alice-everything")
permit (principal, action, resource) when { principal.sub == "human:alice" };

@id("bot-three-tools")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:bot" && ["echo", "read-file", "limit-stdout-flood"].contains(resource.name) };
"#;

pub(super) type Client = RunningService<RoleClient, ()>;

/// An operator's server setup in a temporary directory.
pub(super) struct Setup {
    dir: tempfile::TempDir,
    key: LocalKey,
}

impl Setup {
    pub(super) fn new() -> Self {
        Self::with(POLICY, "")
    }

    /// A setup with `policy` and `extra` appended to the config (TOML
    /// tables after `[audit]` and `[[issuer]]`).
    pub(super) fn with(policy: &str, extra: &str) -> Self {
        Self::with_config(policy, "", extra)
    }

    /// [`Setup::with`], with `top` (top-level keys) at the start of the
    /// config.
    pub(super) fn with_config(policy: &str, top: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = LocalKey::generate().expect("key");
        let path = |rel: &str| dir.path().join(rel);
        std::fs::write(path("issuer.jwks.json"), key.jwks().to_string()).expect("jwks");
        std::fs::write(path("policy.cedar"), policy).expect("policy");
        std::fs::write(
            path("airlock.toml"),
            format!(
                "{top}audience = \"{AUDIENCE}\"\npolicies = [\"policy.cedar\"]\nreplay_cache = \"state/replay\"\ntools = [\"tools\"]\n\n[audit]\ndir = \"audit\"\n\n[[issuer]]\niss = \"{ISSUER}\"\njwks = \"issuer.jwks.json\"\n{extra}"
            ),
        )
        .expect("config");
        std::fs::create_dir_all(path("tools")).expect("mkdir");
        for (file, name) in [
            (programs::ECHO, "echo.wasm"),
            (airlock_tools::READ_FILE_PATH, "read-file.wasm"),
            (programs::LIMIT_INFINITE_LOOP, "loop.wasm"),
            (programs::LIMIT_STDOUT_FLOOD, "flood.wasm"),
            (programs::NOT_A_TOOL, "not-a-tool.wasm"),
            (airlock_tools::HTTP_FETCH_PATH, "http-fetch.wasm"),
        ] {
            std::fs::copy(file, path("tools").join(name)).expect("copy tool");
        }
        std::fs::create_dir_all(path("ws")).expect("mkdir");
        std::fs::write(path("ws/notes.txt"), format!("{CANARY}\n")).expect("write");
        Self { dir, key }
    }

    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `(transport, outcome, tool)` of every call in the audit log.
    pub(super) fn audited_calls(&self) -> Vec<(String, String, String)> {
        let log = std::fs::read_to_string(self.path("audit/audit.jsonl")).unwrap_or_default();
        log.lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("audit record"))
            .filter(|record| record["event"]["kind"] == "call")
            .map(|record| {
                let event = &record["event"];
                let field = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
                (
                    field("transport"),
                    field("outcome"),
                    event["tool"]["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    pub(super) fn token(&self, sub: &str) -> String {
        self.token_for(sub, ISSUER)
    }

    fn token_for(&self, sub: &str, issuer: &str) -> String {
        self.mint(sub, issuer, Map::new())
    }

    /// A token for `sub` from the trusted issuer with extra `claims`.
    pub(super) fn token_with(&self, sub: &str, claims: Value) -> String {
        let Value::Object(claims) = claims else { panic!("claims must be an object") };
        self.mint(sub, ISSUER, claims)
    }

    /// A token for `sub` from `issuer` (trusted when the config lists it
    /// with this setup's key) with extra `claims`.
    pub(super) fn token_from(&self, issuer: &str, sub: &str, claims: Value) -> String {
        let Value::Object(claims) = claims else { panic!("claims must be an object") };
        self.mint(sub, issuer, claims)
    }

    /// Signs `claims` exactly as given with the trusted issuer's key.
    pub(super) fn sign(&self, claims: &Value) -> String {
        self.key.sign(claims).expect("sign")
    }

    fn mint(&self, sub: &str, issuer: &str, claims: Map<String, Value>) -> String {
        let request = MintRequest {
            issuer: issuer.to_owned(),
            audience: AUDIENCE.to_owned(),
            subject: sub.to_owned(),
            ttl: Duration::from_secs(600),
            claims,
        };
        self.key.mint(&request).expect("mint")
    }

    pub(super) fn write_token(&self, file: &str, sub: &str) -> PathBuf {
        self.write_token_text(file, &self.token(sub))
    }

    /// Writes `token` to `file` as an agent host rotates it.
    pub(super) fn write_token_text(&self, file: &str, token: &str) -> PathBuf {
        let path = self.path(file);
        // Rotation as an agent host does it: write aside, rename over.
        let aside = self.path(&format!("{file}.new"));
        std::fs::write(&aside, token).expect("token");
        std::fs::rename(&aside, &path).expect("rename");
        path
    }

    /// `airlock serve` with the config, the workspace mount and `extra`.
    pub(super) fn command(&self, extra: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .arg("serve")
            .arg("--config")
            .arg(self.path("airlock.toml"))
            .arg("--mount")
            .arg(format!("{}:/workspace", self.path("ws").display()))
            .args(extra)
            .env("XDG_CACHE_HOME", shared_cache())
            .env_remove("HOME")
            .env_remove("AIRLOCK_TOKEN_FILE")
            .env_remove("AIRLOCK_CONFIG");
        command
    }

    pub(super) async fn stdio(&self, token_file: &Path) -> Client {
        self.stdio_with(token_file, &[]).await
    }

    /// [`Setup::stdio`] with `extra` flags.
    async fn stdio_with(&self, token_file: &Path, extra: &[&str]) -> Client {
        self.stdio_client(token_file, extra, ()).await
    }

    /// [`Setup::stdio_with`], the client with its own `handler`.
    pub(super) async fn stdio_client<H: rmcp::ClientHandler>(
        &self,
        token_file: &Path,
        extra: &[&str],
        handler: H,
    ) -> RunningService<RoleClient, H> {
        let mut command = self.command(extra);
        command.arg("--stdio").arg("--token-file").arg(token_file);
        let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(command))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn airlock serve --stdio");
        handler.serve(transport).await.expect("MCP session over stdio")
    }

    pub(super) fn http(&self, extra: &[&str]) -> HttpServer {
        self.http_on("127.0.0.1:0", extra)
    }

    /// `airlock serve` with `extra`, run to its end (for servers that must
    /// refuse to start).
    pub(super) fn serve_output(&self, extra: &[&str]) -> std::process::Output {
        self.command(extra).output().expect("run airlock serve")
    }

    /// [`Setup::http`] on `address`.
    pub(super) fn http_on(&self, address: &str, extra: &[&str]) -> HttpServer {
        let mut command = self.command(&["--http", address]);
        command.args(extra);
        Self::spawn_http(command)
    }

    /// [`Setup::http`] in a shell that first runs `ulimit ULIMIT`.
    fn http_with_ulimit(&self, ulimit: &str, extra: &[&str]) -> HttpServer {
        let mut inner = self.command(&["--http", "127.0.0.1:0"]);
        inner.args(extra);
        let mut command = std::process::Command::new("bash");
        command
            .arg("-c")
            .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
            .arg(inner.get_program())
            .args(inner.get_args());
        for (name, value) in inner.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        Self::spawn_http(command)
    }

    fn spawn_http(mut command: std::process::Command) -> HttpServer {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn airlock serve --http");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("airlock: serving MCP on ") {
                    let _ = url_tx.send(url.to_owned());
                }
                lines.lock().expect("log").push(line);
            }
        });
        let url = url_rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| {
            panic!("the server never said where it listens: {:?}", log.lock().expect("log"))
        });
        HttpServer { child, url, log }
    }
}

/// Compiled artifacts shared by every test's server: each tool compiles once.
pub(super) fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcp-cache")
}

pub(super) struct HttpServer {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub(super) async fn client(&self, token: &str) -> Client {
        self.client_with(token, ()).await
    }

    /// A client with its own `handler` (to hear notifications).
    pub(super) async fn client_with<H: rmcp::ClientHandler>(
        &self,
        token: &str,
        handler: H,
    ) -> RunningService<RoleClient, H> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str()).auth_header(token);
        let transport = StreamableHttpClientTransport::with_client(crate::http(), config);
        handler.serve(transport).await.expect("MCP session over HTTP")
    }

    /// The server's stderr lines so far.
    pub(super) fn log_lines(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// Where `--metrics` serves, as the server said at start.
    pub(super) fn metrics_url(&self) -> String {
        self.log_lines()
            .iter()
            .find_map(|line| line.strip_prefix("airlock: serving metrics on ").map(str::to_owned))
            .expect("the server says where the metrics are")
    }

    /// The server's process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it serves MCP: `http://ADDR/mcp`.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    fn metadata_url(&self) -> String {
        self.url.replace("/mcp", "/.well-known/oauth-protected-resource")
    }

    /// A raw JSON-RPC request `body` with `Authorization: Bearer TOKEN`,
    /// accepting JSON or an event stream.
    pub(super) fn post(&self, http: &reqwest::Client, token: &str, body: &Value) -> reqwest::RequestBuilder {
        http.post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("authorization", format!("Bearer {token}"))
            .body(body.to_string())
    }

    /// A raw `tools/list` request, with `Authorization: Bearer TOKEN` when
    /// a token is given.
    pub(super) fn post_list(&self, http: &reqwest::Client, token: Option<&str>) -> reqwest::RequestBuilder {
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
        let request = http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .body(list);
        match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// Waits up to `within` for a log line containing `needle`.
    pub(super) fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.log.lock().expect("log").iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else { panic!("arguments must be an object") };
    CallToolRequestParams::new(name.to_owned()).with_arguments(arguments)
}

pub(super) fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

async fn names(client: &Client) -> Vec<String> {
    let tools = client.list_all_tools().await.expect("tools/list");
    tools.into_iter().map(|t| t.name.into_owned()).collect()
}

/// What a refusal must never contain: which rules decided, who else may,
/// or how to obtain more (flags, config, policy).
fn assert_no_hints(message: &str) {
    for word in ["policy", "permit", "cedar", "alice", "--", "config", "operator", ".toml"] {
        assert!(!message.to_lowercase().contains(word), "refusal hints at `{word}`: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_lists_only_what_the_identity_may_invoke_and_calls_return_structured_content() {
    let setup = Setup::new();
    let bot = setup.stdio(&setup.write_token("bot.jwt", "agent:bot")).await;
    assert_eq!(names(&bot).await, ["echo", "limit-stdout-flood", "read-file"]);

    let listed = bot.list_all_tools().await.expect("tools/list");
    let read_file = listed.iter().find(|t| t.name == "read-file").expect("read-file listed");
    assert_eq!(read_file.input_schema.get("type"), Some(&json!("object")));
    assert!(read_file.input_schema["properties"].get("path").is_some(), "{:?}", read_file.input_schema);
    assert!(read_file.description.as_deref().is_some_and(|d| !d.is_empty()));

    let echoed = bot.call_tool(call("echo", json!({"msg": "hi", "n": [1, 2]}))).await.expect("call");
    assert_eq!(echoed.is_error, Some(false));
    assert_eq!(echoed.structured_content, Some(json!({"msg": "hi", "n": [1, 2]})));

    // Not invocable and not existing read the same.
    let hidden = bot.call_tool(call("limit-infinite-loop", json!({}))).await.expect("call");
    let unknown = bot.call_tool(call("no-such-tool", json!({}))).await.expect("call");
    assert_eq!(hidden.is_error, Some(true));
    assert_eq!(text(&hidden), "tool `limit-infinite-loop` is not available to this identity");
    assert_eq!(text(&unknown), "tool `no-such-tool` is not available to this identity");
    assert_no_hints(&text(&hidden));
    bot.cancel().await.expect("close");
    let calls: Vec<String> =
        setup.audited_calls().into_iter().map(|(t, o, tool)| format!("{t} {o} {tool}")).collect();
    assert_eq!(
        calls,
        ["mcp-stdio ok echo", "mcp-stdio refused limit-infinite-loop", "mcp-stdio refused no-such-tool"]
    );

    let alice = setup.stdio(&setup.write_token("alice.jwt", "human:alice")).await;
    assert_eq!(
        names(&alice).await,
        ["echo", "http-fetch", "limit-infinite-loop", "limit-stdout-flood", "read-file"]
    );
    let read = alice.call_tool(call("read-file", json!({"path": "notes.txt"}))).await.expect("call");
    assert_eq!(read.is_error, Some(false), "{}", text(&read));
    assert!(text(&read).contains(CANARY));
    alice.cancel().await.expect("close");
}

/// An agent host that hands the server a socket, not pipes, gets the same
/// server: stdio falls back to tokio's blocking stdin and stdout.
#[tokio::test(flavor = "multi_thread")]
async fn stdio_serves_a_socket_as_well_as_pipes() {
    let setup = Setup::new();
    let token = setup.write_token("bot.jwt", "agent:bot");
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    let mut command = setup.command(&["--stdio", "--token-file"]);
    command.arg(&token);
    let stdout = theirs.try_clone().expect("clone the socket");
    command.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
    command.stdout(Stdio::from(std::os::fd::OwnedFd::from(stdout)));
    command.stderr(Stdio::null());
    let mut child = command.spawn().expect("spawn airlock serve --stdio");
    ours.set_nonblocking(true).expect("non-blocking");
    let (read, write) = tokio::net::UnixStream::from_std(ours).expect("tokio socket").into_split();
    let client: Client = ().serve((read, write)).await.expect("MCP session over a socket");
    assert_eq!(names(&client).await, ["echo", "limit-stdout-flood", "read-file"]);
    let echoed = client.call_tool(call("echo", json!({"over": "a socket"}))).await.expect("call");
    assert_eq!(echoed.structured_content, Some(json!({"over": "a socket"})));
    client.cancel().await.expect("close");
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(status.success(), "the server ends cleanly when the client closes: {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_refuses_bad_arguments_reports_tool_errors_and_denials() {
    let setup = Setup::new();
    let bot = setup.stdio(&setup.write_token("bot.jwt", "agent:bot")).await;

    // Checked by the server against the schema before any instance exists
    // (the tool's own check would say "input does not match the schema").
    let invalid = bot
        .call_tool(call("read-file", json!({"path": 31337424242_u64, "max_bytes": 0})))
        .await
        .expect("call");
    assert_eq!(invalid.is_error, Some(true));
    let message = text(&invalid);
    assert!(message.starts_with("invalid arguments for `read-file`: "), "{message}");
    assert!(
        message.contains("`/path` violates `type`") && message.contains("`/max_bytes` violates"),
        "{message}"
    );
    // Named by pointer and keyword only: the message goes to the audit
    // log, which records inputs as hashes.
    assert!(!message.contains("31337424242"), "{message}");
    let missing = bot.call_tool(call("read-file", json!({}))).await.expect("call");
    assert!(
        text(&missing).contains("violates `required`") && text(&missing).contains("(missing \"path\")"),
        "{}",
        text(&missing)
    );

    // The policy gives the bot no fs.read: the workspace is not there, and
    // the agent learns that something was withheld, not what or by whom.
    let withheld = bot.call_tool(call("read-file", json!({"path": "notes.txt"}))).await.expect("call");
    assert_eq!(withheld.is_error, Some(true));
    assert!(!text(&withheld).contains(CANARY));
    assert!(withheld.structured_content.is_none());
    assert!(
        text(&withheld).starts_with("tool `read-file`: failed: open /workspace/notes.txt"),
        "{}",
        text(&withheld)
    );
    assert!(text(&withheld).ends_with("(part of what the tool requested is not granted to this identity)"));

    // A tool that floods stdout: the transport stays clean and usable.
    let flood = bot.call_tool(call("limit-stdout-flood", json!({}))).await.expect("call");
    assert_eq!(flood.is_error, Some(false), "{}", text(&flood));
    assert_eq!(
        flood.structured_content.as_ref().map(|v| v["stdout_bytes"].clone()),
        Some(json!(100_007_947))
    );
    let after = bot.call_tool(call("echo", json!({"still": "alive"}))).await.expect("call after the flood");
    assert_eq!(after.structured_content, Some(json!({"still": "alive"})));
    bot.cancel().await.expect("close");
    let outcomes: Vec<String> =
        setup.audited_calls().into_iter().map(|(t, o, tool)| format!("{t} {o} {tool}")).collect();
    assert_eq!(
        outcomes,
        [
            "mcp-stdio invalid_input read-file",
            "mcp-stdio invalid_input read-file",
            "mcp-stdio tool_error read-file",
            "mcp-stdio ok limit-stdout-flood",
            "mcp-stdio ok echo",
        ]
    );

    let alice = setup.stdio(&setup.write_token("alice.jwt", "human:alice")).await;
    let failed = alice.call_tool(call("read-file", json!({"path": "missing.txt"}))).await.expect("call");
    assert_eq!(failed.is_error, Some(true));
    assert!(
        text(&failed).contains("missing.txt") && !text(&failed).contains("not granted"),
        "{}",
        text(&failed)
    );

    // Denied inside the call: the metadata address, refused before connecting.
    let url = "http://169.254.169.254/latest/meta-data/";
    let denied = alice.call_tool(call("http-fetch", json!({"url": url}))).await.expect("call");
    assert_eq!(denied.is_error, Some(true));
    assert!(text(&denied).starts_with("tool `http-fetch`: denied: "), "{}", text(&denied));
    assert!(text(&denied).contains("169.254.169.254"), "{}", text(&denied));
    assert_no_hints(&text(&denied));
    alice.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_identity_follows_the_rotated_token_file_and_never_falls_back() {
    let setup = Setup::new();
    let file = setup.write_token("agent.jwt", "agent:bot");
    let client = setup.stdio(&file).await;
    assert_eq!(names(&client).await.len(), 3);

    // Rotated to alice's token: the next request is alice's.
    setup.write_token("agent.jwt", "human:alice");
    assert_eq!(names(&client).await.len(), 5);

    // Touching the file (same token) changes nothing and is no replay.
    let text_now = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, &text_now).expect("rewrite");
    assert_eq!(names(&client).await.len(), 5);

    // Rotated to a token from an untrusted issuer: refused, no fallback.
    std::fs::write(&file, setup.token_for("human:alice", "https://evil.example")).expect("write");
    let refused = client.call_tool(call("echo", json!({}))).await.expect("call");
    assert_eq!(refused.is_error, Some(true));
    assert!(text(&refused).contains("identity refused") && text(&refused).contains("not trusted"));
    assert!(client.list_all_tools().await.is_err(), "tools/list must fail without an identity");
    client.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_requires_a_valid_bearer_token_on_every_request() {
    let setup = Setup::new();
    let server = setup.http(&[]);
    let http = crate::http();
    let post = |token: Option<String>| server.post_list(&http, token.as_deref()).send();

    let missing = post(None).await.expect("request");
    assert_eq!(missing.status(), 401);
    let challenge = missing.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert_eq!(challenge, format!("Bearer resource_metadata=\"{}\"", server.metadata_url()));

    let metadata: Value =
        http.get(server.metadata_url()).send().await.expect("get").json().await.expect("json");
    assert_eq!(metadata["resource"], AUDIENCE);
    assert_eq!(metadata["authorization_servers"], json!([ISSUER]));
    assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let expired = setup
        .key
        .sign(&json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "human:alice", "iat": now - 900,
                      "nbf": now - 900, "exp": now - 300, "jti": "expired-1"}))
        .expect("sign");
    for (token, why) in [
        (expired, "token expired"),
        ("not-a-jwt".to_owned(), "malformed token"),
        (setup.token_for("human:alice", "https://evil.example"), "is not trusted"),
    ] {
        let refused = post(Some(token)).await.expect("request");
        assert_eq!(refused.status(), 401, "{why}");
        let challenge = refused.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
        assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains(why), "{challenge}");
        let body: Value = refused.json().await.expect("json body");
        assert!(body["error_description"].as_str().is_some_and(|d| d.contains(why)), "{body}");
    }

    // A valid token works for many requests (a bearer token for its lifetime).
    let token = setup.token("agent:bot");
    for _ in 0..3 {
        let ok = post(Some(token.clone())).await.expect("request");
        assert_eq!(ok.status(), 200);
        let body: Value = ok.json().await.expect("json");
        assert_eq!(body["result"]["tools"].as_array().map(Vec::len), Some(3), "{body}");
    }
}

/// Refused tokens leave a trace in the audit log, but a flood of them is
/// one record per kind (the rest are counted into the next), never the
/// token itself; what a token claims reaches the server log escaped.
#[tokio::test(flavor = "multi_thread")]
async fn http_refused_tokens_are_recorded_and_a_flood_neither_hides_nor_bloats() {
    let setup = Setup::new();
    let server = setup.http(&[]);
    let http = crate::http();
    let post = |token: Option<&str>| server.post_list(&http, token).send();
    for n in 0..200 {
        let forged = format!("forged-token-{n}");
        assert_eq!(post(Some(&forged)).await.expect("request").status(), 401);
    }
    assert_eq!(post(None).await.expect("request").status(), 401);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Signed by hand: `identity mint` refuses such an issuer.
    let spoofing = setup
        .key
        .sign(&json!({"iss": "https://evil.example\n2026-01-01 INFO call ok\u{1b}[2K", "aud": AUDIENCE,
                      "sub": "human:alice", "iat": now, "nbf": now, "exp": now + 300, "jti": "spoof-1"}))
        .expect("sign");
    assert_eq!(post(Some(&spoofing)).await.expect("request").status(), 401);
    let untrusted = setup.token_for("human:alice", "https://evil.example");
    assert_eq!(post(Some(&untrusted)).await.expect("request").status(), 401);
    assert!(
        server.wait_for_log("evil.example` is not trusted", Duration::from_secs(10)),
        "refusals are logged"
    );
    let lines = server.log.lock().expect("log").clone();
    assert!(
        !lines.iter().any(|l| l.starts_with("2026-01-01") || l.contains('\x1b')),
        "a claim forged a log line or an escape sequence"
    );
    assert!(lines.iter().any(|l| l.contains("claim `iss` holds a control character")), "named, not quoted");

    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).unwrap_or_default();
    let refused: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("audit record"))
        .filter(|record| record["event"]["kind"] == "tokens_refused")
        .map(|record| record["event"].clone())
        .collect();
    let reasons: Vec<&str> = refused.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert_eq!(refused.len(), 3, "one record per kind within the window: {reasons:?}");
    assert!(refused.iter().all(|e| e["transport"] == "mcp-http" && e["count"] == 1), "{refused:?}");
    assert!(reasons.iter().any(|r| r.starts_with("malformed token")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("missing bearer token")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("is not trusted")), "{reasons:?}");
    assert!(!log.contains("forged-token") && !log.contains(&spoofing), "a token reached the audit log");
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["audit", "verify", "--log"])
        .arg(setup.path("audit"))
        .output()
        .expect("airlock audit verify");
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn http_agents_calling_at_once_get_their_own_grants() {
    let setup = Setup::new();
    let server = setup.http(&[]);
    let alice = server.client(&setup.token("human:alice")).await;
    let bot = server.client(&setup.token("agent:bot")).await;
    assert_eq!(names(&alice).await.len(), 5);
    assert_eq!(names(&bot).await.len(), 3);

    // Eight calls in flight at once, interleaved between the two agents.
    let (alice, bot) = (Arc::new(alice), Arc::new(bot));
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..8 {
        let (who, client) = if n % 2 == 0 { ("alice", alice.clone()) } else { ("bot", bot.clone()) };
        calls.spawn(
            async move { (who, client.call_tool(call("read-file", json!({"path": "notes.txt"}))).await) },
        );
    }
    let mut seen = 0;
    while let Some(joined) = calls.join_next().await {
        let (who, result) = joined.expect("join");
        let result = result.expect("call");
        if who == "alice" {
            assert_eq!(result.is_error, Some(false), "{}", text(&result));
            assert!(text(&result).contains(CANARY));
        } else {
            assert_eq!(result.is_error, Some(true));
            assert!(!text(&result).contains(CANARY), "the bot's grants leaked: {}", text(&result));
        }
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_a_runaway_tool_blocks_no_other_call_and_is_stopped_at_its_deadline() {
    let setup = Setup::new();
    let server = setup.http(&["--timeout", "4s"]);
    let alice = server.client(&setup.token("human:alice")).await;
    runaway_blocks_no_other_call(alice, 4).await;
}

/// Starts `limit-infinite-loop` with `alice`, then calls `echo` three
/// times while it runs; the runaway is stopped at its `deadline_secs`.
async fn runaway_blocks_no_other_call(alice: Client, deadline_secs: u64) {
    let alice = Arc::new(alice);
    let started = Instant::now();
    let runaway = tokio::spawn({
        let alice = alice.clone();
        async move { alice.call_tool(call("limit-infinite-loop", json!({}))).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..3 {
        let echoed = alice.call_tool(call("echo", json!({"n": n}))).await.expect("echo");
        assert_eq!(echoed.structured_content, Some(json!({"n": n})));
    }
    assert!(!runaway.is_finished(), "echo calls finished while the runaway still runs");
    let stopped = runaway.await.expect("join").expect("call");
    assert_eq!(stopped.is_error, Some(true));
    let expected = format!("stopped: timeout after {deadline_secs}s");
    assert!(text(&stopped).contains(&expected), "{}", text(&stopped));
    assert!(started.elapsed() >= Duration::from_secs(deadline_secs));
}

/// A stdio session runs on one thread: a runaway call still holds up no
/// other call of the same agent (the sandbox yields at every epoch tick).
#[tokio::test(flavor = "multi_thread")]
async fn stdio_a_runaway_tool_blocks_no_other_call_and_is_stopped_at_its_deadline() {
    let setup = Setup::new();
    let alice = setup.stdio_with(&setup.write_token("alice.jwt", "human:alice"), &["--timeout", "3s"]).await;
    runaway_blocks_no_other_call(alice, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_a_client_that_disconnects_cancels_its_call() {
    let setup = Setup::new();
    let server = setup.http(&["--timeout", "60s"]);
    let token = setup.token("human:alice");
    let url = server.url.clone();
    let request = tokio::spawn(async move {
        let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"limit-infinite-loop","arguments":{}}}"#;
        crate::http()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("authorization", format!("Bearer {token}"))
            .body(body)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    request.abort();
    assert!(
        server.wait_for_log("call cancelled by the client", Duration::from_secs(10)),
        "the call kept running after the client left: {:?}",
        server.log.lock().expect("log")
    );
    let start = Instant::now();
    while setup.audited_calls().is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        setup.audited_calls(),
        [("mcp-http".into(), "cancelled".into(), "limit-infinite-loop".into())]
    );
}

#[test]
fn serve_reports_skipped_tools_and_refuses_unsafe_or_incomplete_setups() {
    let setup = Setup::new();
    let run = |extra: &[&str]| setup.command(extra).stdin(Stdio::null()).output().expect("run");

    let token = setup.write_token("bot.jwt", "agent:bot");
    let token = token.display().to_string();
    // stdin closed at once: loads, reports, serves nothing, exits.
    let served = run(&["--stdio", "--token-file", &token]);
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(stderr.contains("airlock: loaded echo 0.0.0"), "{stderr}");
    assert!(stderr.contains("airlock: skipped") && stderr.contains("not-a-tool.wasm"), "{stderr}");
    assert!(stderr.contains("airlock: 5 tool(s) ready"), "{stderr}");
    assert!(served.stdout.is_empty(), "nothing but MCP may reach stdout");

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--http", "0.0.0.0:0"], 2, "refusing to serve MCP over plain HTTP on 0.0.0.0:0"),
        (vec!["--stdio"], 2, "--stdio needs --token-file"),
        (vec!["--stdio", "--token-file", "/nonexistent/token"], 2, "cannot read the token file"),
        (vec!["--stdio", "--token-file", &token], 16, "token already used"),
        (
            vec!["--http", "127.0.0.1:0", "--tools", "/nonexistent/tools"],
            2,
            "cannot read `/nonexistent/tools`",
        ),
    ];
    for (args, code, message) in cases {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let only_bad = setup.path("tools/not-a-tool.wasm").display().to_string();
    let out = run(&["--http", "127.0.0.1:0", "--tools", &only_bad]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tool loaded"));
}

/// The official MCP Inspector CLI (`@modelcontextprotocol/inspector`):
/// from `AIRLOCK_MCP_INSPECTOR` (set by `.ci/run`), else through `npx`.
fn inspector() -> Option<Vec<String>> {
    if let Ok(path) = std::env::var("AIRLOCK_MCP_INSPECTOR") {
        return Some(vec![path]);
    }
    let npx = std::process::Command::new("npx").arg("--version").output();
    if npx.is_ok_and(|o| o.status.success()) {
        return Some(["npx", "--yes", "@modelcontextprotocol/inspector@2.12.0"].map(str::to_owned).to_vec());
    }
    eprintln!("skipped: neither AIRLOCK_MCP_INSPECTOR nor npx is available");
    None
}

fn run_inspector(inspector: &[String], args: &[String]) -> Value {
    let out = std::process::Command::new(&inspector[0])
        .args(&inspector[1..])
        .arg("--cli")
        // Starting the server compiles every tool on a cold cache; a loaded
        // 2-core CI machine can take longer than the inspector's 15 s default.
        .args(["--connect-timeout", "120000"])
        .args(args)
        .env("XDG_CACHE_HOME", shared_cache())
        .output()
        .expect("run the inspector");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!("inspector output is not JSON: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn the_mcp_inspector_lists_and_calls_over_stdio_and_http() {
    let Some(inspector) = inspector() else { return };
    let setup = Setup::new();
    let config = setup.path("airlock.toml").display().to_string();
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let stdio = |token: &Path, method: &[&str]| {
        let mut args = strings(&["-e", &format!("AIRLOCK_CONFIG={config}")]);
        args.extend(strings(&["-e", &format!("AIRLOCK_TOKEN_FILE={}", token.display())]));
        args.extend(strings(method));
        args.extend(strings(&["--", env!("CARGO_BIN_EXE_airlock"), "serve", "--stdio"]));
        run_inspector(&inspector, &args)
    };
    let listed = stdio(&setup.write_token("bot.jwt", "agent:bot"), &["--method", "tools/list"]);
    let names: Vec<&str> =
        listed["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["echo", "limit-stdout-flood", "read-file"], "{listed}");

    let called = stdio(
        &setup.write_token("bot.jwt", "agent:bot"),
        &["--method", "tools/call", "--tool-name", "echo", "--tool-arg", "greeting=hello"],
    );
    assert_eq!(called["structuredContent"], json!({"greeting": "hello"}), "{called}");

    let server = setup.http(&[]);
    let header = format!("Authorization: Bearer {}", setup.token("human:alice"));
    let listed = run_inspector(
        &inspector,
        &strings(&[
            "--transport",
            "http",
            "--server-url",
            &server.url,
            "--header",
            &header,
            "--method",
            "tools/list",
        ]),
    );
    assert_eq!(listed["tools"].as_array().map(Vec::len), Some(5), "{listed}");
    let refused = std::process::Command::new(&inspector[0])
        .args(&inspector[1..])
        .args(["--cli", "--transport", "http", "--server-url", &server.url, "--method", "tools/list"])
        .output()
        .expect("run the inspector");
    assert!(!refused.status.success(), "the inspector got in without a token");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_speaks_the_latest_protocol_revision_and_the_one_before() {
    let setup = Setup::new();
    let server = setup.http(&[]);
    let token = setup.token("agent:bot");
    let http = crate::http();
    let post = |version: Option<&str>, method: &str, body: String| {
        let mut request = http
            .post(&server.url)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-method", method);
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        async move { request.body(body).send().await.expect("request").json::<Value>().await.expect("json") }
    };
    let meta = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let discover =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{{"_meta":{meta}}}}}"#);
    let discovered = post(Some("2026-07-28"), "server/discover", discover).await;
    assert_eq!(
        discovered["result"]["supportedVersions"],
        json!(["2025-11-25", "2026-07-28"]),
        "{discovered}"
    );
    assert_eq!(discovered["result"]["cacheScope"], "private");

    let initialize = |version: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        )
    };
    for (asked, answered) in [("2025-11-25", "2025-11-25"), ("2024-11-05", "2025-11-25")] {
        let result = post(None, "initialize", initialize(asked)).await;
        assert_eq!(result["result"]["protocolVersion"], answered, "{asked}: {result}");
        assert_eq!(result["result"]["serverInfo"]["name"], "airlock");
    }
}

/// Calls that exhaust their descriptor and handle budgets over MCP end
/// with the limit named, while echo and file reads running beside them on
/// the same server all succeed.
#[tokio::test(flavor = "multi_thread")]
async fn http_a_call_that_exhausts_its_budgets_degrades_no_other_call() {
    let setup = Setup::new();
    std::fs::create_dir_all(setup.path("floods")).expect("mkdir");
    std::fs::copy(programs::LIMIT_DESCRIPTOR_FLOOD, setup.path("floods/descriptors.wasm")).expect("copy");
    std::fs::copy(programs::LIMIT_HANDLE_FLOOD, setup.path("floods/handles.wasm")).expect("copy");
    std::fs::write(setup.path("ws/hello.txt"), "hello\n").expect("write");
    let (tools, floods) =
        (setup.path("tools").display().to_string(), setup.path("floods").display().to_string());
    let server = setup.http(&["--tools", &tools, "--tools", &floods, "--max-open-files", "64"]);
    let alice = Arc::new(server.client(&setup.token("human:alice")).await);
    let floods: Vec<_> = [
        (
            "limit-descriptor-flood",
            "file descriptors limit: more than 64 files, directories and sockets open at once",
        ),
        ("limit-handle-flood", "host resources limit: more than 4096 handles"),
        ("limit-descriptor-flood", "file descriptors limit: more than 64"),
        ("limit-handle-flood", "host resources limit: more than 4096 handles"),
    ]
    .into_iter()
    .map(|(name, message)| {
        let alice = alice.clone();
        tokio::spawn(async move { (alice.call_tool(call(name, json!({"kind": "files"}))).await, message) })
    })
    .collect();
    for n in 0..10 {
        let echoed = alice.call_tool(call("echo", json!({"n": n}))).await.expect("echo");
        assert_eq!(echoed.structured_content, Some(json!({"n": n})));
        let read = alice.call_tool(call("read-file", json!({"path": "notes.txt"}))).await.expect("read");
        assert_eq!(read.is_error, Some(false), "{}", text(&read));
        assert!(text(&read).contains(CANARY), "{}", text(&read));
    }
    for flood in floods {
        let (result, message) = flood.await.expect("join");
        let result = result.expect("call");
        assert_eq!(result.is_error, Some(true), "{}", text(&result));
        assert!(text(&result).contains(message), "expected `{message}` in {}", text(&result));
    }
}

/// `serve` raises its soft descriptor limit to make room for every call's
/// budget, and warns when the hard limit cannot hold them.
#[test]
fn serve_makes_room_for_every_calls_descriptors_or_warns() {
    let setup = Setup::new();
    let warning = "file descriptors, but this process may open only";
    let server = setup.http_with_ulimit("-n 300", &[]);
    let log = server.log.lock().expect("log").join("\n");
    assert!(
        log.contains("64 calls (--max-calls) holding up to 256 descriptors each (--max-open-files) and the server need 16640 file descriptors, but this process may open only 300"),
        "{log}"
    );
    drop(server);
    let server = setup.http_with_ulimit("-Sn 300", &["--max-calls", "4"]);
    let log = server.log.lock().expect("log").join("\n");
    assert!(!log.contains(warning), "the soft limit was not raised: {log}");
}

/// Over MCP, reads of a FIFO nobody writes and of a socket file in the
/// mount are refused at once, not waited on past the deadline, while echo
/// calls beside them are served.
#[tokio::test(flavor = "multi_thread")]
async fn http_special_files_in_a_mount_are_refused_at_once_beside_other_calls() {
    let setup = Setup::new();
    let made = std::process::Command::new("mkfifo").arg(setup.path("ws/pipe")).status().expect("mkfifo");
    assert!(made.success());
    let _socket = std::os::unix::net::UnixListener::bind(setup.path("ws/socket")).expect("socket");
    let server = setup.http(&["--timeout", "30s"]);
    let alice = Arc::new(server.client(&setup.token("human:alice")).await);
    let started = Instant::now();
    let reads: Vec<_> = ["pipe", "socket", "pipe", "socket"]
        .into_iter()
        .map(|path| {
            let alice = alice.clone();
            tokio::spawn(
                async move { (path, alice.call_tool(call("read-file", json!({"path": path}))).await) },
            )
        })
        .collect();
    for n in 0..5 {
        let echoed = alice.call_tool(call("echo", json!({"n": n}))).await.expect("echo");
        assert_eq!(echoed.structured_content, Some(json!({"n": n})));
    }
    for read in reads {
        let (path, read) = read.await.expect("join");
        let read = read.expect("call");
        assert_eq!(read.is_error, Some(true), "{}", text(&read));
        assert!(text(&read).contains(path) && text(&read).contains("denied"), "{}", text(&read));
    }
    assert!(started.elapsed() < Duration::from_secs(30), "a read waited for the deadline");
}
