//! `airlock audit`, and opening the log every call is recorded in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_audit::{ApprovalStatus, AuditSink, Event, FileLog, LOG_FILE, Record};
use airlock_policy::text::printable;
use airlock_state::PgAudit;
use anyhow::{Context, anyhow};

use crate::args::{AuditCommand, LogArgs};
use crate::config::{AuditSettings, Config};
use crate::exit::{self, Failure};

pub(crate) fn audit(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify { public_key, log } => {
            // Streamed: memory does not grow with the log.
            let (path, reader) = open_log(&log)?;
            let broken = |error: airlock_audit::ChainError| {
                Failure::new(exit::AUDIT_BROKEN, anyhow!("{}: {error}", path.display()))
            };
            let Some(key_path) = public_key else {
                let summary = airlock_audit::verify_reader(reader, |_| {}).map_err(broken)?;
                println!(
                    "{}: {} records, chain intact, head {}",
                    path.display(),
                    summary.records,
                    summary.head
                );
                return Ok(());
            };
            let pem = std::fs::read_to_string(&key_path)
                .with_context(|| format!("cannot read public key `{}`", key_path.display()))
                .map_err(Failure::usage)?;
            let key = airlock_audit::public_key_from_pem(&pem)
                .map_err(|e| Failure::usage(anyhow!("`{}`: {e}", key_path.display())))?;
            let signed = airlock_audit::verify_signed_reader(reader, &key).map_err(broken)?;
            let unsigned = signed.chain.records.saturating_sub(signed.signed_through + 1);
            println!(
                "{}: {} records, chain intact, head {}; {} checkpoints signed by key {} verify, through record {} ({unsigned} records after it not yet signed)",
                path.display(),
                signed.chain.records,
                signed.chain.head,
                signed.checkpoints,
                airlock_audit::key_id(&key),
                signed.signed_through
            );
            Ok(())
        }
        AuditCommand::Keygen { out } => keygen(&out),
        AuditCommand::Checkpoint(config) => {
            let config = crate::config::load(config.config.as_deref())?;
            if config.audit.checkpoints.is_none() {
                return Err(Failure::new(
                    exit::CONFIG,
                    anyhow!("no `[audit] checkpoint_key` in the config: nothing to sign with"),
                ));
            }
            let signed = match &config.state {
                Some(_) => shared_chain(&config)?.checkpoint(),
                None => open_for_calls(&config.audit)?.checkpoint(),
            };
            match signed.map_err(Failure::internal)? {
                Some(receipt) => {
                    println!("checkpoint: record {} signs record {}", receipt.seq, receipt.seq - 1)
                }
                None => println!("nothing to sign: the log is empty or already ends with a checkpoint"),
            }
            Ok(())
        }
        AuditCommand::Tail { lines, json, log } => {
            let records = records(&log)?;
            let skip = records.len().saturating_sub(lines);
            print_records(&records[skip..], json);
            Ok(())
        }
        AuditCommand::Query { sub, tool, outcome, since, json, log } => {
            let since = since
                .as_deref()
                .map(since_time)
                .transpose()
                .map_err(|e| Failure::usage(anyhow!("--since: {e}")))?;
            let records = records(&log)?;
            let matching: Vec<Record> = records
                .into_iter()
                .filter(|r| since.as_ref().is_none_or(|s| r.time.as_str() >= s.as_str()))
                .filter(|r| match &r.event {
                    Event::Call(call) => {
                        sub.as_ref().is_none_or(|s| call.principal.as_ref().is_some_and(|p| &p.sub == s))
                            && tool.as_ref().is_none_or(|t| &call.tool.name == t)
                            && outcome.as_ref().is_none_or(|o| call.outcome.as_str() == o)
                    }
                    Event::Approval(approval) => {
                        sub.as_ref().is_none_or(|s| &approval.requester == s || &approval.approver.sub == s)
                            && tool.as_ref().is_none_or(|t| &approval.tool == t)
                            && outcome.is_none()
                    }
                    Event::ApprovalRefused(refused) => {
                        sub.as_ref().is_none_or(|s| &refused.approver.sub == s)
                            && tool.is_none()
                            && outcome.is_none()
                    }
                    Event::BreakGlass(window) => {
                        sub.as_ref().is_none_or(|s| &window.agent == s || &window.opener.sub == s)
                            && tool.is_none()
                            && outcome.is_none()
                    }
                    Event::Recovered { .. }
                    | Event::Checkpoint(_)
                    | Event::WorkspaceRecovered(_)
                    | Event::TokensRefused(_) => sub.is_none() && tool.is_none() && outcome.is_none(),
                    Event::ToolResolved(r) => {
                        sub.is_none()
                            && outcome.is_none()
                            && tool.as_ref().is_none_or(|t| r.reference.contains(t.as_str()))
                    }
                })
                .collect();
            print_records(&matching, json);
            Ok(())
        }
    }
}

/// The sink calls are recorded in: the fleet's chain in the `[state]`
/// database when the configuration names one, else the log file
/// ([`open_for_calls`]). If it cannot be opened, nothing runs.
pub(crate) fn open_sink(config: &Config) -> Result<Arc<dyn AuditSink>, Failure> {
    match &config.state {
        Some(_) => Ok(Arc::new(shared_chain(config)?)),
        None => Ok(Arc::new(open_for_calls(&config.audit)?)),
    }
}

/// The fleet's chain in the `[state]` database, signing checkpoints when
/// a key is configured.
fn shared_chain(config: &Config) -> Result<PgAudit, Failure> {
    let database = config.state.clone().ok_or_else(|| Failure::internal(anyhow!("no [state] database")))?;
    let chain = PgAudit::new(database);
    Ok(match &config.audit.checkpoints {
        Some(checkpoints) => chain.with_checkpoints(checkpoints.clone()),
        None => chain,
    })
}

/// Opens the log calls are recorded in: the config's `[audit] dir`, else
/// the default, signing checkpoints when a key is configured. If it cannot
/// be opened, nothing runs.
pub(crate) fn open_for_calls(settings: &AuditSettings) -> Result<FileLog, Failure> {
    let dir = match &settings.dir {
        Some(dir) => dir.clone(),
        None => default_dir()?,
    };
    let log = FileLog::open(&dir, settings.durability)
        .map_err(|e| Failure::new(exit::INTERNAL, anyhow!("{e}; nothing was run")))?;
    Ok(match &settings.checkpoints {
        Some(checkpoints) => log.with_checkpoints(checkpoints.clone()),
        None => log,
    })
}

const CHECKPOINT_KEY: &str = "audit-checkpoint.key";
const CHECKPOINT_PUB: &str = "audit-checkpoint.pub";

/// `audit keygen`: a fresh checkpoint key pair; never overwrites a file.
fn keygen(out: &Path) -> Result<(), Failure> {
    let (private, public) = airlock_audit::Checkpointer::generate_pem().map_err(Failure::internal)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create `{}`", out.display()))
        .map_err(Failure::usage)?;
    let key_path = out.join(CHECKPOINT_KEY);
    crate::identity::write_new(&key_path, private.as_bytes(), 0o600).map_err(Failure::usage)?;
    let pub_path = out.join(CHECKPOINT_PUB);
    crate::identity::write_new(&pub_path, public.as_bytes(), 0o644).map_err(Failure::usage)?;
    println!("private key: {} (keep it secret; mode 0600)", key_path.display());
    println!("public key:  {} (give it to whoever verifies copies of the log)", pub_path.display());
    println!();
    println!("Sign the log with it in the runtime config:");
    println!("  [audit]");
    println!("  checkpoint_key = \"{}\"", key_path.display());
    Ok(())
}

/// Appends any event; failing to is an internal failure.
pub(crate) fn record_event(log: &dyn AuditSink, event: Event) -> Result<(), Failure> {
    log.append(event).map(|_| ()).map_err(|e| Failure::new(exit::INTERNAL, e))
}

/// `AIRLOCK_AUDIT_LOG`, else `$XDG_STATE_HOME/airlock/audit`, else
/// `~/.local/state/airlock/audit`.
pub(crate) fn default_dir() -> Result<PathBuf, Failure> {
    crate::config::default_state_path(Some("AIRLOCK_AUDIT_LOG"), "audit").ok_or_else(|| {
        Failure::usage(anyhow!(
            "no audit log location: set [audit] dir in the config, AIRLOCK_AUDIT_LOG, XDG_STATE_HOME or HOME"
        ))
    })
}

pub(crate) fn read_log(log: &LogArgs) -> Result<(PathBuf, Vec<u8>), Failure> {
    let (path, mut reader) = open_log(log)?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the audit log at `{}`", path.display()))
        .map_err(Failure::usage)?;
    Ok((path, bytes))
}

/// The log `log` names, to read one line at a time: the file log through
/// a buffer (memory does not grow with it), or the fleet's chain.
pub(crate) fn open_log(log: &LogArgs) -> Result<(PathBuf, Box<dyn std::io::BufRead>), Failure> {
    if let Some(config) = &log.config {
        let database = airlock_gateway::config::state_database(config)
            .map_err(|e| Failure::new(exit::CONFIG, e))?
            .ok_or_else(|| {
                Failure::usage(anyhow!(
                    "config `{}` has no `[state]`: its audit log is a file (use --log DIR)",
                    config.display()
                ))
            })?;
        let chain = PgAudit::new(Arc::new(database));
        let lines = chain.lines().map_err(|e| Failure::new(exit::INTERNAL, e))?;
        return Ok((PathBuf::from(chain.target()), Box::new(std::io::Cursor::new(lines))));
    }
    let dir = match &log.dir {
        Some(dir) => dir.clone(),
        None => default_dir()?,
    };
    let path = dir.join(LOG_FILE);
    let file = std::fs::File::open(&path)
        .with_context(|| format!("no audit log at `{}`", path.display()))
        .map_err(Failure::usage)?;
    Ok((path, Box::new(std::io::BufReader::with_capacity(1 << 20, file))))
}

/// Every record that parses (use `verify` to check them).
fn records(log: &LogArgs) -> Result<Vec<Record>, Failure> {
    let (path, bytes) = read_log(log)?;
    parse_records(&path, &bytes).map_err(Failure::usage)
}

fn parse_records(path: &Path, bytes: &[u8]) -> anyhow::Result<Vec<Record>> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_slice(line)
                .with_context(|| format!("{} line {}: not an audit record", path.display(), n + 1))
        })
        .collect()
}

fn print_records(records: &[Record], json: bool) {
    for record in records {
        if json {
            println!("{}", serde_json::to_string(record).unwrap_or_default());
            continue;
        }
        let (seq, time) = (record.seq, &record.time);
        // One line per record, whatever a token, tool or checkout put in it:
        // every field they control is shown with its control characters
        // escaped.
        match &record.event {
            Event::Call(call) => {
                let who = call.principal.as_ref().map_or("(operator override)", |p| p.sub.as_str());
                let error = call.error.as_deref().map(|e| format!("  {}", printable(e))).unwrap_or_default();
                let approval = call
                    .approval
                    .as_ref()
                    .map(|a| match &a.approver {
                        Some(by) => {
                            format!("  [{} {} by {}]", printable(&a.id), status_name(a.status), printable(by))
                        }
                        None => format!("  [{} {}]", printable(&a.id), status_name(a.status)),
                    })
                    .unwrap_or_default();
                println!(
                    "{seq:>6}  {time}  {:<13}  {}  {} {}  {} ms{approval}{error}",
                    call.outcome.as_str(),
                    printable(who),
                    printable(&call.tool.name),
                    printable(&call.tool.version),
                    call.duration_ms
                );
            }
            Event::Approval(a) => println!(
                "{seq:>6}  {time}  approval       {} approved {} ({} for {}) until {}{}",
                printable(&a.approver.sub),
                printable(&a.request_id),
                printable(&a.tool),
                printable(&a.requester),
                printable(&a.expires),
                a.reason.as_deref().map(|r| format!("  reason: {}", printable(r))).unwrap_or_default()
            ),
            Event::BreakGlass(w) => println!(
                "{seq:>6}  {time}  BREAK-GLASS    {} opened {} for {} until {}  reason: {}",
                printable(&w.opener.sub),
                printable(&w.window_id),
                printable(&w.agent),
                printable(&w.expires),
                printable(&w.reason)
            ),
            Event::ApprovalRefused(r) => println!(
                "{seq:>6}  {time}  approval REFUSED  {} for {}: {}",
                printable(&r.approver.sub),
                printable(&r.request_id),
                printable(&r.error)
            ),
            Event::Checkpoint(c) => println!(
                "{seq:>6}  {time}  checkpoint     signs record {} ({}) with key {}",
                c.signed_seq,
                printable(&c.signed_head),
                printable(&c.key_id)
            ),
            Event::Recovered { truncated_bytes } => {
                println!(
                    "{seq:>6}  {time}  recovered      torn tail of {truncated_bytes} bytes cut after a crash"
                )
            }
            Event::WorkspaceRecovered(w) => println!(
                "{seq:>6}  {time}  workspace      an unfinished apply to {} was {}",
                printable(&w.workspace),
                printable(&w.outcome).replace('_', " ")
            ),
            Event::TokensRefused(t) => println!(
                "{seq:>6}  {time}  token REFUSED  {} x{} via {}",
                printable(&t.reason),
                t.count,
                printable(&t.transport)
            ),
            Event::ToolResolved(r) => println!(
                "{seq:>6}  {time}  tool resolved  {} -> {} (component {})",
                printable(&r.reference),
                printable(&r.manifest_digest),
                printable(&r.component_digest)
            ),
        }
    }
}

fn status_name(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Required => "filed for approval",
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::BreakGlass => "BREAK-GLASS",
    }
}

/// `--since`: an RFC 3339 time (or prefix), or an age such as `15m`.
/// An age: a whole number and `ms`, `s`, `m`, `h` or `d` (`0s` is now).
fn age(text: &str) -> Option<std::time::Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = text[..split].parse().ok()?;
    let seconds = |per: u64| std::time::Duration::from_secs(n.saturating_mul(per));
    Some(match &text[split..] {
        "ms" => std::time::Duration::from_millis(n),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        _ => return None,
    })
}

/// The RFC 3339 time an age or time names: `30d` is thirty days ago.
pub(crate) fn since_time(text: &str) -> anyhow::Result<String> {
    if text.as_bytes().first().is_some_and(u8::is_ascii_digit) && text.contains('-') {
        return Ok(text.to_owned());
    }
    let age = age(text).ok_or_else(|| {
        anyhow!("`{text}` is neither an age (500ms, 30s, 15m, 12h, 30d) nor an RFC 3339 time such as 2026-11-29T05:00:00Z")
    })?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let at = now.saturating_sub(age);
    Ok(airlock_audit::rfc3339(at.as_secs(), at.subsec_millis()))
}

/// Records a refused token: why (never the token itself).
pub(crate) fn record_refused_token(
    log: &dyn AuditSink,
    transport: &str,
    failure: &Failure,
) -> Result<(), Failure> {
    let event = airlock_audit::TokensRefusedEvent {
        transport: transport.to_owned(),
        reason: airlock_audit::bounded(&failure.error.to_string()),
        count: 1,
    };
    record_event(log, Event::TokensRefused(event))
}
