//! `airlock`: the command-line front end. Parses arguments, calls
//! `airlock-host`, prints results, and maps every outcome to a documented
//! exit code (see `exit.rs` and the README).
#![forbid(unsafe_code)]

mod agents;
mod approve;
mod args;
mod audit;
mod authorize;
mod config;
mod demo;
mod effective;
mod exit;
mod identity;
mod inspect;
mod limits;
mod new;
mod policy;
mod prove;
mod registry;
mod reload;
mod run;
mod runtime;
mod secret;
mod serve;
mod state;
mod suggest;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: reading the audit log builds
/// records on every core and frees them on one, where glibc spends a third
/// of the time consolidating its free lists (`agents list` over a million
/// records: 9.0 s with glibc, 6.6 s with mimalloc; docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // The HTTP server runs many agents' calls side by side on every core.
    // A stdio server serves one agent: reading its pipe, running the call
    // and writing the answer on one thread costs no wake-up of another
    // (the MCP round trip, issue 19); one-shot commands need one thread.
    let mut builder = match &cli.command {
        args::Command::Serve(serve) if !serve.stdio => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let tokio = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let result = tokio.block_on(async {
        match cli.command {
            args::Command::Run(a) => run::run(a).await,
            args::Command::Inspect(a) => inspect::inspect(a).await,
            args::Command::Demo(a) => demo::demo(a).await,
            args::Command::Identity(c) => identity::identity(c),
            args::Command::Policy(c) => policy::policy(c).await,
            args::Command::Secret(c) => secret::secret(c),
            args::Command::Serve(a) => serve::serve(a).await,
            args::Command::Audit(c) => audit::audit(c),
            args::Command::Agents(c) => agents::agents(c).await,
            args::Command::Approve(a) => approve::approve(a),
            args::Command::New(a) => new::new(a),
            args::Command::State(c) => state::state(c),
            args::Command::Pull(a) => registry::pull(a).await,
            args::Command::Push(a) => registry::push(a).await,
            args::Command::Sign(a) => registry::sign(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(failure) => {
            // Errors quote what they refuse (a line of a file, a claim, a
            // name): printed with control characters escaped.
            let message = format!("{:#}", failure.error);
            eprintln!("error: {}", airlock_policy::text::printable_lines(&message));
            failure.exit_code()
        }
    }
}
