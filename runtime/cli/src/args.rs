//! Command-line definitions and the parsers for mount, env, duration and
//! size arguments.

use std::path::PathBuf;
use std::time::Duration;

use airlock_gateway::units::{parse_duration, parse_size};
use airlock_policy::{Access, GuestPath, Methods, NetGrant, OfferedEnv, OfferedMount};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

/// Run AI-agent tools (WebAssembly components) in a sandbox that grants
/// nothing unless told to.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a tool once and print its JSON result.
    Run(RunArgs),
    /// Print a tool's description (describe()) and its imports as JSON.
    Inspect(InspectArgs),
    /// Show airlock at work on a scratch project with the built-in tools:
    /// two agents with different grants, denied escapes, a replayed token.
    Demo(CacheArgs),
    /// Local identities: create an issuer key pair, mint short-lived tokens.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Operator policy: validate policy files, explain decisions.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The secret store: values the host attaches to tools' requests and
    /// never hands to tools.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Serve tools to agents over MCP (stdio or streamable HTTP). Each call
    /// gets the grants policy derives from the calling agent's identity.
    Serve(ServeArgs),
    /// The audit log: check its chain, show recent records, search it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Approve a call that policy allows only with a human's approval (as
    /// a human, with your own token); list the requests waiting; or open a
    /// break-glass window.
    Approve(ApproveArgs),
    /// Create a tool project (source, build script, README) in Rust,
    /// Python or TypeScript that builds and runs with `airlock run`.
    New(NewArgs),
    /// The state a fleet of servers shares in PostgreSQL (`[state]`): show
    /// or apply the schema's migrations.
    #[command(subcommand)]
    State(StateCommand),
    /// Fetch a tool from an OCI registry into the local component store,
    /// verifying the manifest against its pinned digest and the component
    /// against the manifest. Prints the pinned reference to use.
    Pull(PullArgs),
    /// Publish a component to an OCI registry (the Wasm OCI artifact
    /// layout) after checking it loads as an airlock tool. Prints the
    /// pinned reference.
    Push(PushArgs),
    /// Sign a pinned registry tool with a local key, as cosign does (the
    /// signature goes to the registry beside it), or create a key pair.
    Sign(SignArgs),
    /// The agent identities the audit log shows: who called, how often,
    /// what was refused, approved or let through by break-glass, and who
    /// was never seen.
    #[command(subcommand)]
    Agents(AgentsCommand),
}

/// `airlock agents ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentsCommand {
    /// Every identity in the audit log (issuer, `sub`, claims, delegation
    /// chains), first and last seen, calls, denials, approvals asked and
    /// granted, break-glass uses; then the trusted issuers and the agents
    /// policies name that were never seen. The log is verified first: a
    /// tampered or truncated log is refused (exit 8).
    List(AgentsListArgs),
    /// One identity's grants per tool: with a configuration, its effective
    /// grants (what policy permits now for every capability each tool of
    /// the configuration requests, decided as a call is, for the claims of
    /// its last call or --claims); beside each, how the calls in the window
    /// were decided and used it. Grants never used, and tools permitted and
    /// never called, are findings (for example a read-write mount only
    /// ever read).
    Show(AgentsShowArgs),
    /// One self-contained HTML page: the identity × tool grant matrix
    /// (each cell granted and used, granted and unused, denied, or never
    /// asked; with the configuration, grants are what policy allows now),
    /// each identity's findings beside its row, and the hygiene findings.
    /// The page runs no script and fetches nothing.
    Report(AgentsReportArgs),
}

/// `airlock agents report`.
#[derive(Debug, Args)]
pub(crate) struct AgentsReportArgs {
    /// Where to write the page (replaced whole, never half-written).
    #[arg(long, value_name = "FILE")]
    pub(crate) html: PathBuf,
    /// An identity whose last call is older than this is reported stale.
    #[arg(long, value_name = "AGE", default_value = "30d")]
    pub(crate) stale: String,
    #[command(flatten)]
    pub(crate) window: AgentsWindowArgs,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// `airlock agents show`.
#[derive(Debug, Args)]
pub(crate) struct AgentsShowArgs {
    /// The identity's `sub`.
    pub(crate) sub: String,
    /// Its issuer, when the same `sub` came from several.
    #[arg(long, value_name = "ISS")]
    pub(crate) iss: Option<String>,
    /// Decide the effective grants for these claims (a JSON object, as a
    /// token's payload) instead of those of the identity's last call:
    /// for an identity that never called, or to ask "what if".
    #[arg(long, value_name = "FILE")]
    pub(crate) claims: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) window: AgentsWindowArgs,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// `airlock policy suggest`.
#[derive(Debug, Args)]
pub(crate) struct SuggestArgs {
    /// Suggest from observed use in the audit log (the only source).
    #[arg(long, required = true)]
    pub(crate) from_audit: bool,
    /// One permit per claim group instead of per identity: identities of
    /// an issuer with the same value of this claim (for example
    /// `repository`: a repository's CI identities) share their permits.
    /// Identities without the claim keep their own.
    #[arg(long, value_name = "CLAIM")]
    pub(crate) group_by: Option<String>,
    /// Write the policy here instead of stdout (replaced whole, never
    /// half-written).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) window: AgentsWindowArgs,
}

/// `airlock agents list`.
#[derive(Debug, Args)]
pub(crate) struct AgentsListArgs {
    /// An identity whose last call is older than this is reported stale.
    #[arg(long, value_name = "AGE", default_value = "30d")]
    pub(crate) stale: String,
    #[command(flatten)]
    pub(crate) window: AgentsWindowArgs,
}

/// Which log `airlock agents` reads, which part of it, and how it answers.
#[derive(Debug, Args)]
pub(crate) struct AgentsWindowArgs {
    /// Only records at or after this: an age (`30d`, `12h`) or an RFC 3339
    /// time. Default: the whole log.
    #[arg(long, value_name = "AGE|TIME")]
    pub(crate) since: Option<String>,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// The runtime configuration: its trusted issuers and the agents its
    /// policies name are reported when never seen, and with `[state]` the
    /// fleet's chain is read (unless --log names a file log).
    #[arg(long, env = "AIRLOCK_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The audit log directory [default: AIRLOCK_AUDIT_LOG, else
    /// $XDG_STATE_HOME/airlock/audit or ~/.local/state/airlock/audit].
    #[arg(long = "log", env = "AIRLOCK_AUDIT_LOG", value_name = "DIR")]
    pub(crate) log: Option<PathBuf>,
}

/// `airlock sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The pinned reference to sign: oci://REGISTRY/REPOSITORY@sha256:DIGEST.
    #[arg(required_unless_present = "generate_key")]
    pub(crate) reference: Option<String>,
    /// The private key (PKCS#8 PEM, ECDSA P-256 or Ed25519).
    #[arg(long, value_name = "FILE", required_unless_present = "generate_key")]
    pub(crate) key: Option<PathBuf>,
    /// Create a new ECDSA P-256 key pair instead: FILE (private, 0600,
    /// never overwritten) and FILE.pub (for `[[tool_signers]]`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["reference", "key"])]
    pub(crate) generate_key: Option<PathBuf>,
}

/// `airlock pull`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// oci://REGISTRY/REPOSITORY:TAG or oci://REGISTRY/REPOSITORY@sha256:DIGEST.
    /// With --config: one of its tools, by name (no digest), else all.
    pub(crate) reference: Option<String>,
    /// Lock this configuration's registry tools: pull each, check its
    /// signatures against its [[tool_signers]], and record the digest and
    /// signer in `airlock.lock` beside it (read by every load).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Record a locked tool whose trusted signer changed (refused by
    /// default: check who publishes it now first).
    #[arg(long)]
    pub(crate) accept_signer: bool,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// `airlock push`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The component file.
    pub(crate) file: PathBuf,
    /// oci://REGISTRY/REPOSITORY:TAG.
    pub(crate) reference: String,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// `airlock state ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Show which schema migrations the database has and which are pending
    /// (reads only).
    Status(ConfigArgs),
    /// Create the schema if missing and apply every pending migration
    /// (servers also do this at start).
    Migrate(ConfigArgs),
}

/// How `airlock serve` writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One escaped line of text per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// The languages `airlock new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Rust with `airlock-sdk` (`sdk/`), built with cargo for wasm32-wasip2.
    Rust,
    /// Python with `sdk/python`, built with componentize-py.
    Python,
    /// TypeScript with `sdk/js`, built with airlock-js-build.
    Js,
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The tool's name: 1-64 of `[a-z0-9_-]`, starting with a letter.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// The language of the tool.
    #[arg(long, value_enum)]
    pub(crate) lang: Lang,
    /// Where to create the project; it must not exist. Default: ./NAME.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// The airlock checkout whose `wit/` and SDKs the project uses.
    /// Default: the checkout this binary was built from, when it is still
    /// there.
    #[arg(long, value_name = "DIR", env = "AIRLOCK_CHECKOUT")]
    pub(crate) airlock: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    /// The request id (`apr-…`) from the call's `approval required` answer.
    #[arg(
        value_name = "REQUEST_ID",
        required_unless_present_any = ["list", "break_glass"],
        conflicts_with_all = ["list", "break_glass"]
    )]
    pub(crate) request: Option<String>,
    /// Why: recorded in the audit log. Required with --break-glass.
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// List the requests waiting for a human, then exit.
    #[arg(long, conflicts_with_all = ["break_glass", "reason"])]
    pub(crate) list: bool,
    /// Open a break-glass window: the agent's calls that need approval run
    /// without one, each flagged in the audit log, until the window
    /// closes. Only for principals named in `approvals.break_glass`.
    #[arg(long, requires_all = ["agent", "reason"])]
    pub(crate) break_glass: bool,
    /// With --break-glass: the agent `sub` whose calls it lets through.
    #[arg(long, requires = "break_glass", value_name = "SUB")]
    pub(crate) agent: Option<String>,
    /// With --break-glass: the agent's issuer (`iss`). The window lets
    /// through only tokens from it. Default: the one trusted issuer, when
    /// the configuration trusts exactly one.
    #[arg(long, requires = "break_glass", value_name = "ISS")]
    pub(crate) agent_issuer: Option<String>,
    /// With --break-glass: how long the window stays open (at most 1h).
    #[arg(long = "for", value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    #[command(flatten)]
    pub(crate) identity: IdentityArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check every record and the chain between them; exits 8 naming the
    /// first bad sequence number if anything was edited, deleted, inserted
    /// or reordered.
    Verify {
        /// Also check every signed checkpoint against this Ed25519 public
        /// key (SPKI PEM, from `audit keygen`); a log with none fails.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Create an Ed25519 key pair for signed checkpoints:
    /// DIR/audit-checkpoint.key (0600; name it in `[audit] checkpoint_key`)
    /// and DIR/audit-checkpoint.pub (for `audit verify --public-key`).
    Keygen {
        /// Where to write the two files (never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Sign the chain head now with the config's `[audit] checkpoint_key`
    /// (for example before copying the log elsewhere).
    Checkpoint(ConfigArgs),
    /// Print the last records, one line each.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value = "20")]
        lines: usize,
        /// Print the records as JSON lines instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print the records matching every given filter.
    Query {
        /// The caller's `sub`.
        #[arg(long)]
        sub: Option<String>,
        /// The tool's name.
        #[arg(long)]
        tool: Option<String>,
        /// ok, refused, invalid_input, approval_required, denied,
        /// tool_error, limit, trap, cancelled or internal.
        #[arg(long)]
        outcome: Option<String>,
        /// Records at or after this time: RFC 3339 (`2026-11-29T05:00:00Z`,
        /// or a prefix such as `2026-11-29`) or an age (`90s`, `15m`, `2h`).
        #[arg(long)]
        since: Option<String>,
        /// Print the records as JSON lines instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        log: LogArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// The audit log directory [default: AIRLOCK_AUDIT_LOG, else
    /// $XDG_STATE_HOME/airlock/audit or ~/.local/state/airlock/audit].
    #[arg(long = "log", env = "AIRLOCK_AUDIT_LOG", value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Read the fleet's chain from the `[state]` database this runtime
    /// configuration names, instead of a log file.
    #[arg(long, value_name = "FILE", conflicts_with = "dir")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Speak MCP on stdin/stdout; the identity is the token in --token-file.
    #[arg(long, conflicts_with = "http", required_unless_present = "http")]
    pub(crate) stdio: bool,
    /// Serve streamable HTTP on this address, such as 127.0.0.1:8080 (the
    /// endpoint is /mcp). Every request must carry `Authorization: Bearer
    /// <JWT>`. Without --tls-cert only a loopback address is accepted.
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<std::net::SocketAddr>,
    /// With --http: serve HTTPS with this certificate chain (PEM: the
    /// certificate, then intermediates). Checked at start: an expired or
    /// not yet valid certificate stops the server.
    #[arg(long, value_name = "FILE", requires_all = ["http", "tls_key"])]
    pub(crate) tls_cert: Option<PathBuf>,
    /// With --tls-cert: its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// The server log's format on stderr: `text` (one escaped line per
    /// event) or `json` (one JSON object per line, with the call's
    /// `call_id`, as in its audit record, under `span`).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// Reload the configuration, policies, keys and tools when one of
    /// their files changes (checked every second), as on SIGHUP.
    #[arg(long)]
    pub(crate) watch: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (calls, denials,
    /// approvals, refusals, audit latency; no identities or secrets). Off
    /// by default.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// With --http: the origin clients reach the server at, such as
    /// https://mcp.example.com (scheme, host and port only), named in the
    /// 401 challenge. Default: the bound address.
    #[arg(long, value_name = "URL", requires = "http")]
    pub(crate) public_url: Option<String>,
    /// With --stdio: the file holding the agent's token. Re-read when it
    /// changes, so it can be rotated while the server runs.
    #[arg(long, env = "AIRLOCK_TOKEN_FILE", value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// A tool component (.wasm) or a directory of them; repeatable.
    /// Default: the config's `tools`.
    #[arg(long = "tools", value_name = "PATH")]
    pub(crate) tools: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Bind a host directory to a guest path tools request:
    /// HOST:GUEST[:ro|rw]. Offered to every tool that requests GUEST;
    /// policy decides per caller.
    #[arg(long = "mount", short = 'm', value_name = "HOST:GUEST[:ro|rw]")]
    pub(crate) mounts: Vec<String>,
    /// Bind an environment variable tools request: NAME or NAME=VALUE.
    /// Policy decides per caller (`env.read`).
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]")]
    pub(crate) env: Vec<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Most calls running at once; more fail with "at capacity".
    #[arg(long, value_name = "N", default_value = "64")]
    pub(crate) max_calls: u32,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SecretCommand {
    /// Create a store: a fresh key (DIR/key.txt, 0600) and an empty
    /// encrypted file (DIR/secrets.age). Never overwrites a key.
    Init(StoreArgs),
    /// Set a secret. The value is read from stdin (or --from-file), never
    /// from the command line; one trailing newline is dropped.
    Set {
        /// The name tools request it by, such as GITHUB_TOKEN.
        name: String,
        /// Read the value from this file instead of stdin.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List names, sizes and update times; never values.
    List(StoreArgs),
    /// Remove a secret.
    Rm {
        /// The secret's name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The store directory [default: $XDG_CONFIG_HOME/airlock/secrets or
    /// ~/.config/airlock/secrets].
    #[arg(long = "store", env = "AIRLOCK_SECRETS", value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IdentityCommand {
    /// Create an Ed25519 issuer key (DIR/issuer.key, mode 0600) and its
    /// public JWKS (DIR/issuer.jwks.json) for the runtime config.
    Keygen {
        /// Directory to write the two files to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Mint a short-lived EdDSA token signed by a local issuer key.
    Mint(MintArgs),
}

#[derive(Debug, Args)]
pub(crate) struct MintArgs {
    /// The issuer's private key (from `identity keygen`).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Subject: who the token speaks for, such as human:alice or agent:triage-bot.
    #[arg(long)]
    pub(crate) sub: String,
    /// Issuer (`iss`); must match an [[issuer]] in the runtime config.
    #[arg(long, default_value = "https://airlock.local")]
    pub(crate) iss: String,
    /// Audience (`aud`); must equal the runtime config's `audience`.
    #[arg(long, default_value = "https://airlock.local/runtime")]
    pub(crate) aud: String,
    /// Another claim: NAME=VALUE (a string) or NAME:=JSON (any JSON value).
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub(crate) claims: Vec<String>,
    /// Lifetime, such as 10m or 90s. Longer than the runtime's maximum
    /// (default 15m) and the token is refused.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub(crate) ttl: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate policy files against the airlock schema; every error names
    /// file:line:column. With no files, checks the config's policies.
    Check {
        /// Policy files (.cedar).
        files: Vec<PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// For a token and a tool, print allow or deny for every capability the
    /// tool requests and the policies that decided it. Does not consume the
    /// token (it stays usable once).
    Explain(ExplainArgs),
    /// Prove whether NEW permits anything OLD does not, for every action,
    /// with a replayed counterexample per widening; also lists what NEW no
    /// longer permits. Each side is a policy file, a directory of .cedar
    /// files, or an airlock.toml (its `policies`). Needs cvc5. Exit 0:
    /// narrower or equal, proven; 22: widens; 23: not proven.
    Diff {
        /// The policies before the change.
        old: PathBuf,
        /// The policies after the change.
        new: PathBuf,
        #[command(flatten)]
        proof: ProofArgs,
    },
    /// Suggest a least-privilege policy set from what the audit log shows
    /// was used: each current permit that allowed a use, narrowed to that
    /// use (one action, resource, tool and identity or claim group),
    /// commented with the calls that justify it; every current forbid kept.
    /// It validates as `policy check` does and is never wider than the
    /// current policy (check with `policy diff CONFIG SUGGESTED`).
    Suggest(SuggestArgs),
    /// Prove that POLICIES never permit what an invariant describes. Each
    /// invariant is a Cedar `permit` matching requests that must never be
    /// allowed; each is proven disjoint from what POLICIES permit or
    /// answered with a replayed counterexample. Needs cvc5. Exit 0: every
    /// invariant proven; 22: one is violated; 23: not proven.
    Prove {
        /// Policy files, directories of .cedar files, or an airlock.toml.
        #[arg(required = true)]
        policies: Vec<PathBuf>,
        /// The invariants: a .cedar file or a directory of them.
        #[arg(long, value_name = "FILE")]
        invariants: PathBuf,
        #[command(flatten)]
        proof: ProofArgs,
    },
}

/// How proofs run.
#[derive(Debug, Args)]
pub(crate) struct ProofArgs {
    /// Longest time the solver may spend on one check; a check that runs
    /// out is "not proven", never "proven".
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(crate) timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The tool: a component file (a path with a `/` or a `.wasm` name), a
    /// pinned registry reference (oci://REGISTRY/REPO@sha256:DIGEST), or
    /// the name of a built-in tool (grep, read-file, http-fetch, osv-query,
    /// patch-deps).
    #[arg(long)]
    pub(crate) tool: PathBuf,
    #[command(flatten)]
    pub(crate) identity: IdentityArgs,
    /// Also decide these destinations (as `airlock run --net` would offer
    /// them): [METHOD,...=]scheme://host[:port].
    #[arg(long = "net", value_name = "[METHODS=]DESTINATION")]
    pub(crate) net: Vec<String>,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Runtime configuration: audience, trusted issuers, policy files.
    #[arg(long, env = "AIRLOCK_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct IdentityArgs {
    /// The caller's token (a JWT), or @FILE to read it from a file: the
    /// agent's for `run` and `policy explain`, the approver's own for
    /// `approve`. Prefer @FILE or AIRLOCK_TOKEN: a token in argv is visible
    /// to other local users.
    #[arg(long, env = "AIRLOCK_TOKEN", hide_env_values = true, value_name = "JWT|@FILE")]
    pub(crate) token: Option<String>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct CacheArgs {
    /// Directory for compiled artifacts [default: $XDG_CACHE_HOME/airlock or ~/.cache/airlock].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Compile in memory; read and write no artifact cache.
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Where components pulled from registries are kept, by digest (0700;
    /// every read is hashed again) [default: $XDG_DATA_HOME/airlock/components
    /// or ~/.local/share/airlock/components].
    #[arg(long = "components", env = "AIRLOCK_COMPONENTS", value_name = "DIR")]
    pub(crate) components: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The tool: a component file (a path with a `/` or a `.wasm` name), a
    /// pinned registry reference (oci://REGISTRY/REPO@sha256:DIGEST), or
    /// the name of a built-in tool (grep, read-file, http-fetch, osv-query,
    /// patch-deps).
    pub(crate) tool: PathBuf,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// Per-call limits (`run` and `serve`). Each flag overrides the key of the
/// same name in the config's `[limits]`; what neither sets keeps the
/// default shown.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct LimitArgs {
    /// Wall-clock limit for each call, such as 500ms, 2s or 1m [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// Memory limit for each call, all its memories summed, such as 64MiB
    /// or 1GiB [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) memory: Option<u64>,
    /// Largest JSON result a call may return [default: 1MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_output: Option<u64>,
    /// Bytes of stdout, and of stderr, kept per call [default: 64KiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_stdio: Option<u64>,
    /// Log lines kept per call [default: 1000].
    #[arg(long, value_name = "N")]
    pub(crate) max_log_lines: Option<u32>,
    /// Bytes of log lines kept per call [default: 256KiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_log_bytes: Option<u64>,
    /// Resource handles a call may hold at once [default: 4096].
    #[arg(long, value_name = "N")]
    pub(crate) max_handles: Option<u32>,
    /// Files, directories and sockets a call may hold open at once
    /// [default: 256].
    #[arg(long, value_name = "N")]
    pub(crate) max_open_files: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The tool: a component file (a path with a `/` or a `.wasm` name), a
    /// pinned registry reference (oci://REGISTRY/REPO@sha256:DIGEST), or
    /// the name of a built-in tool (grep, read-file, http-fetch, osv-query,
    /// patch-deps).
    pub(crate) tool: PathBuf,
    /// Input JSON, or @FILE to read it from a file (@- for stdin).
    #[arg(long, short, value_name = "JSON|@FILE")]
    pub(crate) input: String,
    #[command(flatten)]
    pub(crate) identity: IdentityArgs,
    /// Run without an identity: grant exactly the --mount and --env flags,
    /// with no policy check. Marked on stderr; for operators at their own
    /// terminal, never for agents.
    #[arg(long, conflicts_with = "token")]
    pub(crate) operator_override: bool,
    /// Bind a host directory to a guest path the tool requests:
    /// HOST:GUEST[:ro|rw]; read-only unless `:rw`. With a token, policy
    /// decides whether the tool gets it (and may narrow rw to ro).
    #[arg(long = "mount", short = 'm', value_name = "HOST:GUEST[:ro|rw]")]
    pub(crate) mounts: Vec<String>,
    /// Bind an environment variable the tool requests: NAME (value taken
    /// from airlock's environment) or NAME=VALUE. With a token, policy
    /// decides (`env.read`).
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]")]
    pub(crate) env: Vec<String>,
    /// Offer an HTTP destination inside one the tool requests:
    /// [METHOD,...=]scheme://host[:port|:first-last], such as
    /// https://api.osv.dev or GET,HEAD=https://api.github.com. With a token,
    /// policy decides (`net.connect`); tools' own requested destinations
    /// are decided without this flag.
    #[arg(long = "net", value_name = "[METHODS=]DESTINATION")]
    pub(crate) net: Vec<String>,
    /// With --operator-override: bind a secret the tool requests, from the
    /// store (--store or AIRLOCK_SECRETS), to every --net destination. With
    /// a token, requested secrets come from the config's store and policy
    /// decides where each may go (`secret.use`).
    #[arg(long = "secret", value_name = "NAME", requires = "operator_override")]
    pub(crate) secrets: Vec<String>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Re-submit a call that needed a human's approval, with the request id
    /// (`apr-…`) a human approved. Used once; the call must be the one
    /// approved (same tool, input, grants and caller).
    #[arg(long, value_name = "REQUEST_ID", conflicts_with = "operator_override")]
    pub(crate) approval: Option<String>,
    /// Also print what the tool wrote to stdout/stderr and logged (to stderr).
    #[arg(long)]
    pub(crate) show_output: bool,
    /// A checkout the tool may change through a private stage: it sees
    /// the whole tree at its read-write mount; after it succeeds, every
    /// changed path is checked (`fs.write` on that path, and the rules: no
    /// symlinks, no new executables, no file over 8 MiB) and the changes
    /// are applied atomically, or none is. Exit 0 applied, 20 nothing
    /// changed, 21 refused.
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
    /// With --workspace: write the permitted changes to FILE as a patch
    /// (`git apply FILE`) instead of applying them.
    #[arg(long, value_name = "FILE", requires = "workspace")]
    pub(crate) dry_run: Option<PathBuf>,
    /// With --workspace: where the private stage is made [default:
    /// /dev/shm when the system has it (falling back when it is too small),
    /// else the system temporary directory].
    #[arg(long, env = "AIRLOCK_STAGE_DIR", value_name = "DIR", requires = "workspace")]
    pub(crate) stage_dir: Option<PathBuf>,
    /// With --workspace: the most bytes of files a stage may hold (apparent
    /// sizes: a sparse file counts in full). A checkout over it is refused
    /// with exit 4 before anything is copied.
    #[arg(
        long,
        env = "AIRLOCK_STAGE_MAX_BYTES",
        value_name = "SIZE",
        default_value = "1GiB",
        value_parser = parse_size
    )]
    pub(crate) stage_max_bytes: u64,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// Parses `[METHOD,...=]scheme://host[:port]`: a destination, optionally
/// restricted to some methods (all common methods otherwise).
pub(crate) fn parse_net(spec: &str) -> anyhow::Result<NetGrant> {
    let (methods, destination) = match spec.split_once('=') {
        Some((methods, destination)) => (methods.split(',').map(str::trim).collect::<Vec<_>>(), destination),
        None => (Vec::new(), spec),
    };
    let destination = destination.parse().with_context(|| format!("bad --net `{spec}`"))?;
    let methods = Methods::parse(&methods).with_context(|| format!("bad --net `{spec}`"))?;
    Ok(NetGrant { destination, methods })
}

/// Parses every `--mount` and `--env` flag.
pub(crate) fn parse_bindings(
    mounts: &[String],
    env: &[String],
) -> anyhow::Result<(Vec<OfferedMount>, Vec<OfferedEnv>)> {
    let mounts = mounts.iter().map(|m| parse_mount(m)).collect::<Result<_, _>>()?;
    let env = env.iter().map(|e| parse_env(e)).collect::<Result<_, _>>()?;
    Ok((mounts, env))
}

/// Parses `HOST:GUEST[:ro|rw]`. The host directory must exist; it is
/// canonicalised so the grant names the real directory.
pub(crate) fn parse_mount(spec: &str) -> anyhow::Result<OfferedMount> {
    let usage = || format!("bad mount `{spec}`: expected HOST:GUEST[:ro|rw], such as ./src:/workspace:ro");
    let (rest, access) = match spec.rsplit_once(':') {
        Some((rest, "ro")) => (rest, Access::ReadOnly),
        Some((rest, "rw")) => (rest, Access::ReadWrite),
        _ => (spec, Access::ReadOnly),
    };
    let Some((host, guest)) = rest.rsplit_once(':') else { bail!(usage()) };
    if host.is_empty() || guest.is_empty() {
        bail!(usage());
    }
    let guest = GuestPath::new(guest).with_context(|| format!("bad mount `{spec}`"))?;
    let host = std::fs::canonicalize(host)
        .with_context(|| format!("bad mount `{spec}`: host directory `{host}` cannot be opened"))?;
    if !host.is_dir() {
        bail!("bad mount `{spec}`: `{}` is not a directory", host.display());
    }
    Ok(OfferedMount { host, guest, access })
}

/// Parses `NAME` (value from the environment) or `NAME=VALUE`.
pub(crate) fn parse_env(spec: &str) -> anyhow::Result<OfferedEnv> {
    let (name, value) = match spec.split_once('=') {
        Some((name, value)) => (name, value.to_owned()),
        None => {
            let value = std::env::var(spec)
                .with_context(|| format!("--env {spec}: `{spec}` is not set in airlock's environment"))?;
            (spec, value)
        }
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("--env {spec}: `{name}` is not a valid variable name (letters, digits, `_`)");
    }
    Ok(OfferedEnv { name: name.to_owned(), value })
}

/// Reads `--token`: the JWT itself, or `@FILE`.
pub(crate) fn read_token(arg: &str) -> anyhow::Result<String> {
    match arg.strip_prefix('@') {
        Some(file) => Ok(std::fs::read_to_string(file)
            .with_context(|| format!("cannot read token file `{file}`"))?
            .trim()
            .to_owned()),
        None => Ok(arg.trim().to_owned()),
    }
}

/// Parses `--claim NAME=VALUE` (string) or `NAME:=JSON`.
pub(crate) fn parse_claim(spec: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (name, value) = match (spec.split_once(":="), spec.split_once('=')) {
        (Some((name, json)), _) if !name.contains('=') => {
            let value = serde_json::from_str(json)
                .with_context(|| format!("--claim {spec}: the value after `:=` is not JSON"))?;
            (name, value)
        }
        (_, Some((name, text))) => (name, serde_json::Value::String(text.to_owned())),
        _ => bail!("--claim {spec}: expected NAME=VALUE or NAME:=JSON"),
    };
    if name.is_empty() {
        bail!("--claim {spec}: empty claim name");
    }
    Ok((name.to_owned(), value))
}

/// Reads `--input`: inline JSON, `@FILE`, or `@-` for stdin. Checks it is
/// JSON before any tool runs.
pub(crate) fn read_input(arg: &str) -> anyhow::Result<String> {
    let text = match arg.strip_prefix('@') {
        Some("-") => std::io::read_to_string(std::io::stdin()).context("cannot read input from stdin")?,
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("cannot read input file `{file}`"))?
        }
        None => arg.to_owned(),
    };
    serde_json::from_str::<serde_json::Value>(&text).context("--input is not valid JSON")?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_specs() {
        let g = parse_net("https://api.osv.dev").expect("parses");
        assert_eq!(
            (g.destination.to_string(), g.methods),
            ("https://api.osv.dev".to_owned(), Methods::standard())
        );
        let g = parse_net("GET,HEAD=https://api.github.com").expect("parses");
        assert_eq!(g.methods.as_slice(), ["GET", "HEAD"]);
        for (spec, message) in [
            ("api.osv.dev", "expected scheme://host"),
            ("get=https://a.example", "not an HTTP method"),
            ("CONNECT=https://a.example", "CONNECT cannot be granted"),
        ] {
            let err = format!("{:#}", parse_net(spec).expect_err(spec));
            assert!(err.contains(message) && err.contains(spec), "{err}");
        }
    }

    #[test]
    fn mount_specs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = dir.path().display().to_string();
        let m = parse_mount(&format!("{host}:/workspace")).expect("parses");
        assert_eq!((m.guest.as_str(), m.access), ("/workspace", Access::ReadOnly));
        let m = parse_mount(&format!("{host}:/data:rw")).expect("parses");
        assert_eq!((m.guest.as_str(), m.access), ("/data", Access::ReadWrite));
        for (spec, expected) in [
            ("nocolon".to_owned(), "expected HOST:GUEST"),
            (format!("{host}:relative"), "not absolute"),
            (format!("{host}:/a/../b"), "not normalised"),
            ("/definitely/not/here:/workspace".to_owned(), "cannot be opened"),
        ] {
            let err = format!("{:#}", parse_mount(&spec).expect_err(&spec));
            assert!(err.contains(expected), "{spec}: {err}");
        }
    }

    #[test]
    fn claim_specs() {
        assert_eq!(
            parse_claim("repo=acme/app").expect("string"),
            ("repo".into(), serde_json::json!("acme/app"))
        );
        assert_eq!(parse_claim("n:=7").expect("json"), ("n".into(), serde_json::json!(7)));
        assert_eq!(parse_claim("a=b:=c").expect("string with :="), ("a".into(), serde_json::json!("b:=c")));
        assert!(format!("{:#}", parse_claim("act:={").expect_err("bad json")).contains("not JSON"));
        assert!(format!("{:#}", parse_claim("nothing").expect_err("no =")).contains("NAME=VALUE"));
    }

    #[test]
    fn env_specs() {
        let e = parse_env("A_B=c=d").expect("parses");
        assert_eq!((e.name.as_str(), e.value.as_str()), ("A_B", "c=d"));
        assert!(
            format!("{:#}", parse_env("BAD-NAME=1").expect_err("invalid"))
                .contains("not a valid variable name")
        );
        assert!(
            format!("{:#}", parse_env("AIRLOCK_SURELY_UNSET_VARIABLE").expect_err("unset"))
                .contains("is not set")
        );
    }
}
