//! `airlock demo`: the built-in tools on a scratch project. One allowed
//! search, then three attempts to read a secret outside the mount, each of
//! which must be denied. Exits non-zero if any expectation fails.

use std::path::Path;

use airlock_host::{LoadedTool, Runtime, ToolError};
use airlock_policy::{Access, GuestPath, Limits, Offer, OfferedMount, resolve};
use anyhow::{Context, anyhow};
use serde_json::json;

use crate::args::CacheArgs;
use crate::exit::Failure;
use crate::runtime;

const SECRET: &str = "AWS_SECRET_ACCESS_KEY=demo-not-a-real-secret";

pub(crate) async fn demo(cache: CacheArgs) -> Result<(), Failure> {
    let scratch =
        tempfile::tempdir().context("cannot create a scratch directory").map_err(Failure::internal)?;
    let project = scratch.path().join("project");
    make_project(scratch.path(), &project).map_err(Failure::internal)?;
    let rt = runtime::runtime(&cache)?;
    let grep = load(&rt, airlock_tools::GREP).await?;
    let read_file = load(&rt, airlock_tools::READ_FILE).await?;
    println!("airlock demo: scratch project at {}", project.display());
    println!("  mounted read-only at /workspace; a secret sits next to it, outside the mount\n");

    let workspace = GuestPath::new("/workspace").map_err(Failure::internal)?;
    let mount = OfferedMount { host: project.clone(), guest: workspace, access: Access::ReadOnly };
    let offer = Offer { mounts: vec![mount], env: vec![], limits: Limits::default() };
    let mut failures = Vec::new();

    let input = json!({ "pattern": "TODO", "include": ["*.rs"] }).to_string();
    println!("1. grep {input}");
    match call(&grep, &offer, &input).await? {
        Ok(output) => println!("   ALLOWED: {output}\n"),
        Err(e) => {
            println!("   unexpected failure: {e}\n");
            failures.push("grep in the granted mount");
        }
    }

    let host_path = scratch.path().join("outside/credentials.txt").display().to_string();
    for (n, path, how) in [
        (2, "/workspace/../outside/credentials.txt", "`..` out of the mount"),
        (3, "/workspace/escape", "a symlink pointing out of the mount"),
        (4, host_path.as_str(), "the host path itself"),
    ] {
        let input = json!({ "path": path }).to_string();
        println!("{n}. read-file {input}  ({how})");
        match call(&read_file, &offer, &input).await? {
            Ok(output) => {
                println!("   ALLOWED (this is a sandbox failure): {output}\n");
                failures.push(how);
            }
            Err(e) => println!("   DENIED: {e}\n"),
        }
    }

    let etc = OfferedMount {
        host: "/etc".into(),
        guest: GuestPath::new("/etc").map_err(Failure::internal)?,
        access: Access::ReadOnly,
    };
    let greedy = Offer { mounts: vec![etc], ..offer.clone() };
    println!("5. operator offers /etc to read-file, which never asked for it");
    match resolve(&read_file.info().name, &read_file.info().capabilities, &greedy) {
        Ok(_) => failures.push("an unrequested mount"),
        Err(e) => println!("   REFUSED before the tool runs: {e}\n"),
    }

    if failures.is_empty() {
        println!("All expectations held: the search ran, every escape was denied.");
        Ok(())
    } else {
        Err(Failure::internal(anyhow!("demo expectations failed: {}", failures.join(", "))))
    }
}

async fn load(rt: &Runtime, bytes: &[u8]) -> Result<LoadedTool, Failure> {
    rt.load_bytes(bytes).await.map_err(runtime::load_failure)
}

/// Runs one call; a tool error is a normal (printed) result here, and a
/// result that contains the secret counts as an escape.
async fn call(tool: &LoadedTool, offer: &Offer, input: &str) -> Result<Result<String, ToolError>, Failure> {
    let grants = resolve(&tool.info().name, &tool.info().capabilities, offer).map_err(Failure::usage)?;
    let outcome = crate::run::call(tool, &grants, input).await?;
    Ok(outcome.result.map(|out| if out.contains(SECRET) { format!("LEAKED THE SECRET: {out}") } else { out }))
}

fn make_project(scratch: &Path, project: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::create_dir_all(scratch.join("outside"))?;
    std::fs::write(scratch.join("outside/credentials.txt"), format!("{SECRET}\n"))?;
    std::fs::write(project.join("README.md"), "# demo\nTODO: write docs\n")?;
    std::fs::write(
        project.join("src/main.rs"),
        "fn main() {\n    // TODO: handle errors\n    println!(\"hi\");\n}\n",
    )?;
    std::fs::write(project.join("src/lib.rs"), "//! Demo library.\n// TODO: add tests\npub fn f() {}\n")?;
    #[cfg(unix)]
    std::os::unix::fs::symlink("../outside/credentials.txt", project.join("escape"))?;
    Ok(())
}
