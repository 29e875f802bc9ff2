//! `airlock serve`: the MCP server. Loads the tools, then serves them over
//! stdio (identity from a token file) or HTTP, loopback or TLS (a bearer token per
//! request). Policy decides every call for the identity that makes it.

use std::path::PathBuf;
use std::sync::Arc;

use airlock_audit::AuditSink;
use airlock_gateway::Metrics;
use airlock_host::LoadedTool;
use airlock_mcp::{AirlockServer, BearerTokens, Catalog, LoadEvent, OfferSource, TokenFile};
use airlock_policy::{Limits, Offer, OfferedEnv, OfferedMount};
use anyhow::anyhow;

use crate::args::{self, ServeArgs};
use crate::config;
use crate::exit::{self, Failure};
use crate::registry::ToolSet;
use crate::reload::Reloader;
use crate::secret;

pub(crate) async fn serve(args: ServeArgs) -> Result<(), Failure> {
    init_logging(std::env::var_os(LOG_VAR).as_deref(), args.log_format)?;
    if args.stdio && args.token_file.is_none() {
        return Err(Failure::usage(anyhow!(
            "--stdio needs --token-file FILE (or AIRLOCK_TOKEN_FILE): the agent's identity is fixed at launch"
        )));
    }
    if let Some(address) = args.http
        && !address.ip().is_loopback()
        && args.tls_cert.is_none()
    {
        return Err(Failure::usage(airlock_mcp::ServeError::NotLoopback(address)));
    }
    let public_url =
        args.public_url.as_deref().map(|url| origin(url, args.tls_cert.is_some())).transpose()?;
    // A certificate that cannot serve stops the server before anything
    // else: nothing is ever served in clear text instead.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(Arc::new(airlock_mcp::tls::TlsCertificate::load(cert, key).map_err(Failure::usage)?))
        }
        _ => None,
    };
    let (mounts, env) = args::parse_bindings(&args.mounts, &args.env).map_err(Failure::usage)?;
    let config = config::load(args.config.config.as_deref())?;
    let audit: Arc<dyn AuditSink> = crate::audit::open_sink(&config)?;
    let verifier = config.verifier.clone();
    let tools = if args.tools.is_empty() {
        ToolSet::from_config(&config)
    } else {
        ToolSet::from_flags(&args.tools, config.tool_signers.clone())?
    };
    let sources = config.sources.clone();
    let state = config.state.clone();
    let metrics = match args.metrics {
        Some(address) => Some(serve_metrics(address, args.max_calls).await?),
        None => None,
    };
    let limits = crate::limits::with_flags(config.limits, &args.limits)?;
    let gate = Reloader::gate(config, &mounts, &env, &args.limits, metrics.as_ref())?;

    // Identity first: a bad token should fail before minutes of compiling.
    let token_file = match (&args.token_file, args.stdio) {
        (Some(path), true) => Some(TokenFile::open(path, verifier.clone()).map_err(|e| {
            let code = e.token_error().map_or(exit::USAGE, exit::for_token);
            Failure::new(code, e)
        })?),
        _ => None,
    };

    if tools.is_empty() {
        return Err(Failure::usage(anyhow!(
            "no tools to serve: pass --tools PATH or set `tools` in the config"
        )));
    }
    if let Some(warning) = crate::limits::descriptor_headroom(limits.open_files, args.max_calls) {
        eprintln!("airlock: warning: {warning}");
    }
    let runtime = Arc::new(crate::runtime::runtime_with_pool(&args.cache, args.max_calls)?);
    let catalog_sources = tools.sources(&args.cache, Some(audit.as_ref())).await?;
    let catalog =
        Catalog::load_sources(&runtime, &catalog_sources, report_progress).await.map_err(Failure::usage)?;
    eprintln!("airlock: {} tool(s) ready", catalog.len());

    // Over HTTP, each request's bearer token is verified before the server.
    let tokens = match (&token_file, &metrics) {
        (Some(_), _) => None,
        (None, Some(metrics)) => Some(BearerTokens::new(verifier).bearer().with_metrics(metrics.clone())),
        (None, None) => Some(BearerTokens::new(verifier).bearer()),
    }
    .map(Arc::new);
    let server = match token_file {
        Some(token_file) => AirlockServer::for_stdio(catalog, gate, token_file, audit.clone()),
        None => AirlockServer::for_http(catalog, gate, audit.clone()),
    };
    server.set_readiness(crate::reload::readiness(state));
    let reloader = Reloader {
        config: args.config.config.clone(),
        tool_flags: args.tools.clone(),
        mounts,
        env,
        limit_flags: args.limits.clone(),
        runtime,
        server: server.clone(),
        tokens: tokens.clone(),
        metrics,
        tls: tls.clone(),
        sources,
        tools,
        cache: args.cache.clone(),
        audit,
    };
    reloader.spawn(args.watch).map_err(Failure::internal)?;

    match (tokens, args.http) {
        (None, _) => airlock_mcp::stdio::serve_process_stdio(server).await.map_err(Failure::internal),
        (Some(tokens), Some(address)) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| Failure::usage(anyhow!("cannot listen on {address}: {e}")))?;
            let bound = listener.local_addr().map_err(Failure::internal)?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            eprintln!("airlock: serving MCP on {scheme}://{bound}{}", airlock_mcp::http::MCP_PATH);
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let config = tls.map(|certificate| certificate.config());
            airlock_mcp::http::serve(listener, config, public_url, server, tokens, shutdown)
                .await
                .map_err(Failure::internal)
        }
        (Some(_), None) => Err(Failure::usage(anyhow!("pass --stdio or --http ADDR"))),
    }
}

/// The origin in `--public-url`: `scheme://host[:port]` with nothing
/// after it (one trailing `/` is dropped), `https` when serving TLS.
fn origin(url: &str, tls: bool) -> Result<String, Failure> {
    let bad = |why: &str| Failure::usage(anyhow!("--public-url {url:?}: {why}"));
    let origin = url.strip_suffix('/').unwrap_or(url);
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err(bad("expected scheme://host[:port]"));
    };
    match (scheme, tls) {
        ("https", _) | ("http", false) => {}
        ("http", true) => return Err(bad("the server speaks TLS: use https://")),
        _ => return Err(bad("the scheme must be https (or http without TLS)")),
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if authority.is_empty() || !authority.chars().all(allowed) {
        return Err(bad("expected only scheme://host[:port], with no path, query or credentials"));
    }
    Ok(origin.to_owned())
}

/// Binds `address` and serves the metrics there from now on; the instance
/// pool's size is `slots`. A bind failure stops the server at start.
async fn serve_metrics(address: std::net::SocketAddr, slots: u32) -> Result<Arc<Metrics>, Failure> {
    let metrics = Arc::new(Metrics::new().map_err(Failure::internal)?);
    metrics.set_call_slots(slots);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Failure::usage(anyhow!("--metrics: cannot listen on {address}: {e}")))?;
    let bound = listener.local_addr().map_err(Failure::internal)?;
    eprintln!("airlock: serving metrics on http://{bound}{}", airlock_mcp::metrics::METRICS_PATH);
    let served = metrics.clone();
    tokio::spawn(async move {
        if let Err(error) = airlock_mcp::metrics::serve(listener, served).await {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    Ok(metrics)
}

/// One line per component on stderr (never stdout: with --stdio that is
/// the MCP transport).
fn report_progress(event: LoadEvent<'_>) {
    match event {
        LoadEvent::Loaded { path, tool, cached, elapsed } => eprintln!(
            "airlock: loaded {} {} from {} in {} ms{}",
            tool.name,
            tool.version,
            path.display(),
            elapsed.as_millis(),
            if cached { " (cached)" } else { "" }
        ),
        // The reason may quote the component (its schema): escaped.
        LoadEvent::Skipped(error) => {
            eprintln!("airlock: skipped {}", airlock_policy::text::printable_lines(&error.to_string()))
        }
    }
}

/// The variable that sets the server log's levels, as `tracing`'s
/// `Targets` reads them: `debug` (every call, with its sizes), `warn`,
/// `info,rmcp=debug`.
const LOG_VAR: &str = "AIRLOCK_LOG";

/// The server log's levels when [`LOG_VAR`] is not set: airlock's events
/// at INFO (refusals, denials, failures; not every call, which the audit
/// log records), the MCP library's only when they are warnings.
const DEFAULT_LOG: &str = "info,rmcp=warn";

/// The server's log: `tracing` events to stderr, at the levels `spec` (the
/// value of [`LOG_VAR`]) sets, else [`DEFAULT_LOG`]. Every line goes through
/// [`SafeLines`]: whatever a client, token or tool put in a field (a method
/// name, an issuer, an error), it is one line, cut and escaped.
fn init_logging(spec: Option<&std::ffi::OsStr>, format: args::LogFormat) -> Result<(), Failure> {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter: Targets = match spec {
        None => DEFAULT_LOG.parse(),
        Some(spec) => spec.to_str().unwrap_or("\u{fffd}").parse(),
    }
    .map_err(|e| {
        let shown = spec.map(|s| airlock_policy::text::excerpt(&s.to_string_lossy(), 64).into_owned());
        Failure::usage(anyhow!(
            "{LOG_VAR}={}: not a log level list ({e}); for example `debug` or `info,rmcp=warn`",
            shown.unwrap_or_default()
        ))
    })?;
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        args::LogFormat::Text => {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(|| SafeLines(std::io::stderr()))
                .with_ansi(false)
                .with_target(false);
            registry.with(layer).try_init()
        }
        args::LogFormat::Json => {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(|| SafeJsonLines(std::io::stderr()))
                .with_target(false);
            registry.with(layer).try_init()
        }
    };
    Ok(())
}

/// A writer for one JSON-formatted log event: the formatter escapes
/// control characters already; this also escapes bidirectional overrides
/// and other invisible format characters (`\uXXXX`, valid JSON inside the
/// strings they can only appear in), and replaces an event longer than
/// [`MAX_LOG_LINE_CHARS`] with a short one saying so, since a cut object
/// would not parse.
struct SafeJsonLines<W>(W);

impl<W: std::io::Write> std::io::Write for SafeJsonLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let event = text.strip_suffix('\n').unwrap_or(&text);
        let mut line = String::with_capacity(event.len());
        for c in event.chars() {
            if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
            {
                line.push_str(&format!("\\u{:04x}", u32::from(c)));
            } else {
                line.push(c);
            }
        }
        if line.chars().count() > MAX_LOG_LINE_CHARS {
            line = serde_json::json!({
                "level": "WARN",
                "fields": { "message": format!("a log event of {} characters was dropped", line.chars().count()) },
            })
            .to_string();
        }
        self.0.write_all(format!("{line}\n").as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Most characters of one server log line; the rest is cut (`…`).
const MAX_LOG_LINE_CHARS: usize = 4096;

/// A writer for one formatted log event (the fmt layer writes each event
/// whole, in one call): control characters and bidirectional overrides
/// escaped, newlines inside the event too, cut to [`MAX_LOG_LINE_CHARS`].
struct SafeLines<W>(W);

impl<W: std::io::Write> std::io::Write for SafeLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let event = text.strip_suffix('\n').unwrap_or(&text);
        let line = airlock_policy::text::excerpt(event, MAX_LOG_LINE_CHARS);
        self.0.write_all(format!("{line}\n").as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// What `airlock serve` binds to a call: the --mount and --env flags for
/// the tools that request those paths and names, the secrets a tool
/// requests from the config's store, and the per-call limits.
pub(crate) struct ServeOffer {
    pub(crate) mounts: Vec<OfferedMount>,
    pub(crate) env: Vec<OfferedEnv>,
    pub(crate) limits: Limits,
    pub(crate) secrets: Option<PathBuf>,
}

impl OfferSource for ServeOffer {
    fn offer(&self, tool: &LoadedTool) -> Result<Offer, String> {
        let requested = &tool.info().capabilities;
        let mounts = self
            .mounts
            .iter()
            .filter(|m| requested.mounts.iter().any(|r| r.guest_path == m.guest))
            .cloned()
            .collect();
        let env =
            self.env.iter().filter(|e| requested.env.iter().any(|r| r.name == e.name)).cloned().collect();
        let secrets = match &self.secrets {
            Some(dir) if !requested.secrets.is_empty() => {
                let (offered, missing) =
                    secret::from_store(&requested.secrets, dir).map_err(|e| e.to_string())?;
                for name in missing {
                    tracing::warn!(tool = %tool.info().name, secret = %name, "requested secret not in the store");
                }
                offered
            }
            _ => Vec::new(),
        };
        Ok(Offer { mounts, env, hosts: Vec::new(), secrets, limits: self.limits })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn a_log_level_list_that_does_not_parse_is_refused_naming_the_variable() {
        let failure = init_logging(Some(std::ffi::OsStr::new("info,rmcp=loud")), args::LogFormat::Text)
            .expect_err("refused");
        let message = format!("{:#}", failure.error);
        assert!(message.starts_with("AIRLOCK_LOG=info,rmcp=loud: not a log level list"), "{message}");
    }

    #[test]
    fn a_log_line_is_one_escaped_line_however_long_or_hostile_its_fields() {
        let mut out = SafeLines(Vec::new());
        let method = format!("x\x1b]0;pwned\x07\n2026-01-01 INFO call ok {}", "m".repeat(2_000_000));
        // The fmt layer writes each event in one call.
        out.write_all(format!("WARN unknown method {method}\n").as_bytes()).expect("write");
        let line = String::from_utf8(out.0).expect("utf-8");
        assert_eq!(line.matches('\n').count(), 1, "one line: {}", &line[..200]);
        assert!(line.ends_with("…\n") && line.chars().count() <= MAX_LOG_LINE_CHARS + 64, "cut");
        assert!(line.starts_with("WARN unknown method x\\u{1b}]0;pwned\\u{7}\\n2026"), "{}", &line[..80]);
        assert!(!line.trim_end().chars().any(airlock_policy::text::is_unprintable));
    }

    /// A JSON log line stays one line of valid JSON: hidden and
    /// bidirectional characters escaped, an event too long to keep replaced
    /// by one saying so.
    #[test]
    fn a_json_log_line_is_one_valid_line_however_long_or_hostile_its_fields() {
        let mut out = SafeJsonLines(Vec::new());
        let event = serde_json::json!({"fields": {"message": "tool \u{202e}txt.exe\u{2066}", "x": "\u{85}"}});
        out.write_all(format!("{event}\n").as_bytes()).expect("write");
        let line = String::from_utf8(out.0).expect("utf-8");
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains("\\u202e") && line.contains("\\u2066") && line.contains("\\u0085"), "{line}");
        assert!(!line.trim_end().chars().any(airlock_policy::text::is_unprintable), "{line}");
        let parsed: serde_json::Value = serde_json::from_str(line.trim_end()).expect("valid JSON");
        assert_eq!(parsed["fields"]["message"], "tool \u{202e}txt.exe\u{2066}", "the same text, escaped");

        let mut out = SafeJsonLines(Vec::new());
        let huge = serde_json::json!({"fields": {"message": "m".repeat(100_000)}});
        out.write_all(format!("{huge}\n").as_bytes()).expect("write");
        let line = String::from_utf8(out.0).expect("utf-8");
        let parsed: serde_json::Value = serde_json::from_str(line.trim_end()).expect("valid JSON");
        assert!(parsed["fields"]["message"].as_str().is_some_and(|m| m.contains("was dropped")), "{line}");
    }
}
