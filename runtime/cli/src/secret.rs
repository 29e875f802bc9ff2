//! `airlock secret`: the embedded secret store, and the secrets a run
//! offers from it.

use std::io::Read;
use std::path::{Path, PathBuf};

use airlock_host::LoadedTool;
use airlock_policy::{OfferedSecret, SecretRequest};
use airlock_secrets::{AgeFileStore, SecretStore, SecretString, StoreError};
use anyhow::{Context, anyhow};
use secrecy::zeroize::Zeroizing;

use crate::args::{SecretCommand, StoreArgs};
use crate::exit::{self, Failure};

pub(crate) fn secret(command: SecretCommand) -> Result<(), Failure> {
    match command {
        SecretCommand::Init(store) => {
            let dir = store_dir(&store)?;
            AgeFileStore::init(&dir).map_err(Failure::usage)?;
            println!("secret store created in {}", dir.display());
            println!(
                "key: {} (anyone who can read it can read every secret; keep it 0600)",
                dir.join(airlock_secrets::KEY_FILE).display()
            );
            Ok(())
        }
        SecretCommand::Set { name, from_file, store } => {
            let mut opened = open(&store_dir(&store)?).map_err(Failure::usage)?;
            let value = read_value(from_file.as_deref()).map_err(Failure::usage)?;
            opened.set(&name, value).map_err(Failure::usage)?;
            println!("set {name}");
            Ok(())
        }
        SecretCommand::List(store) => {
            let opened = open(&store_dir(&store)?).map_err(Failure::usage)?;
            let listed = opened.list().map_err(Failure::usage)?;
            println!("{:<32} {:>8}  UPDATED (unix seconds)", "NAME", "BYTES");
            for info in listed {
                println!("{:<32} {:>8}  {}", info.name, info.bytes, info.updated);
            }
            Ok(())
        }
        SecretCommand::Rm { name, store } => {
            let mut opened = open(&store_dir(&store)?).map_err(Failure::usage)?;
            if opened.remove(&name).map_err(Failure::usage)? {
                println!("removed {name}");
                Ok(())
            } else {
                Err(Failure::usage(anyhow!("no secret `{name}` in the store")))
            }
        }
    }
}

/// `--store`, `AIRLOCK_SECRETS`, or the per-user default.
fn store_dir(args: &StoreArgs) -> Result<PathBuf, Failure> {
    if let Some(dir) = &args.dir {
        return Ok(dir.clone());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| Failure::usage(anyhow!("no --store, AIRLOCK_SECRETS, XDG_CONFIG_HOME or HOME")))?;
    Ok(base.join("airlock/secrets"))
}

fn open(dir: &Path) -> Result<AgeFileStore, StoreError> {
    AgeFileStore::open(dir)
}

/// The value from a file or stdin, without one trailing newline. Never
/// empty.
fn read_value(file: Option<&Path>) -> anyhow::Result<SecretString> {
    let mut text = Zeroizing::new(String::new());
    match file {
        Some(path) => {
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_string(&mut text))
                .with_context(|| format!("cannot read `{}`", path.display()))?;
        }
        None => {
            std::io::stdin().read_to_string(&mut text).context("cannot read the value from stdin")?;
        }
    }
    let value = text.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&text);
    if value.is_empty() {
        anyhow::bail!("the value is empty");
    }
    Ok(SecretString::from(value.to_owned()))
}

/// With a token: every secret the tool requests that the configured store
/// holds (policy decides what becomes of them). Requested secrets the store
/// lacks are noted, not fatal: the tool sees them as not granted.
pub(crate) fn offered_by_config(
    tool: &LoadedTool,
    store: Option<&Path>,
) -> Result<Vec<OfferedSecret>, Failure> {
    let requested = &tool.info().capabilities.secrets;
    if requested.is_empty() {
        return Ok(Vec::new());
    }
    let Some(dir) = store else {
        eprintln!("note: tool `{}` requests secrets, but the config names no secret store", tool.info().name);
        return Ok(Vec::new());
    };
    let (offered, missing) = from_store(requested, dir).map_err(|e| Failure::new(exit::CONFIG, e))?;
    for name in missing {
        eprintln!(
            "note: tool `{}` requests secret `{name}`, which the store does not hold",
            tool.info().name
        );
    }
    Ok(offered)
}

/// The requested secrets the store in `dir` holds, and the names it lacks.
pub(crate) fn from_store(
    requested: &[SecretRequest],
    dir: &Path,
) -> Result<(Vec<OfferedSecret>, Vec<String>), StoreError> {
    let store = open(dir)?;
    let mut offered = Vec::new();
    let mut missing = Vec::new();
    for request in requested {
        match store.get(&request.name)? {
            Some(value) => offered.push(OfferedSecret { name: request.name.clone(), value }),
            None => missing.push(request.name.clone()),
        }
    }
    Ok((offered, missing))
}

/// With `--operator-override`: exactly the `--secret` names, from the store.
pub(crate) fn offered_by_flags(names: &[String], store: &StoreArgs) -> Result<Vec<OfferedSecret>, Failure> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let opened = open(&store_dir(store)?).map_err(Failure::usage)?;
    names
        .iter()
        .map(|name| match opened.get(name).map_err(Failure::usage)? {
            Some(value) => Ok(OfferedSecret { name: name.clone(), value }),
            None => Err(Failure::usage(anyhow!("--secret {name}: no such secret in the store"))),
        })
        .collect()
}
