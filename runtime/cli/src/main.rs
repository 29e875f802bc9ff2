//! `airlock`: the command-line front end. Parses arguments, calls
//! `airlock-host`, prints results, and maps every outcome to a documented
//! exit code (see `exit.rs` and the README).
#![forbid(unsafe_code)]

mod approve;
mod args;
mod audit;
mod authorize;
mod config;
mod demo;
mod exit;
mod identity;
mod inspect;
mod limits;
mod policy;
mod run;
mod runtime;
mod secret;
mod serve;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // The MCP server runs calls side by side; one-shot commands need one thread.
    let mut builder = match cli.command {
        args::Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
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
            args::Command::Approve(a) => approve::approve(a),
        }
    });
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            failure.exit_code()
        }
    }
}
