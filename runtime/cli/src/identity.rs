//! `airlock identity`: a local issuer for development, the demo and tests.

use std::io::Write;
use std::path::Path;

use airlock_identity::{KeyError, LocalKey, MintRequest};
use anyhow::{Context, anyhow};
use serde_json::Map;

use crate::args::{self, IdentityCommand, MintArgs};
use crate::exit::Failure;

pub(crate) fn identity(command: IdentityCommand) -> Result<(), Failure> {
    match command {
        IdentityCommand::Keygen { out } => keygen(&out),
        IdentityCommand::Mint(args) => mint(&args),
    }
}

const KEY_FILE: &str = "issuer.key";
const JWKS_FILE: &str = "issuer.jwks.json";

fn keygen(out: &Path) -> Result<(), Failure> {
    let key = LocalKey::generate().map_err(Failure::internal)?;
    let pem = key.to_pem().map_err(Failure::internal)?;
    let jwks = serde_json::to_string_pretty(&key.jwks()).map_err(Failure::internal)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create `{}`", out.display()))
        .map_err(Failure::usage)?;
    let key_path = out.join(KEY_FILE);
    write_new(&key_path, pem.as_bytes(), 0o600).map_err(Failure::usage)?;
    let jwks_path = out.join(JWKS_FILE);
    write_new(&jwks_path, format!("{jwks}\n").as_bytes(), 0o644).map_err(Failure::usage)?;
    println!("private key: {} (keep it secret; mode 0600)", key_path.display());
    println!("public JWKS: {} (kid {})", jwks_path.display(), key.kid());
    println!();
    println!("Trust it in the runtime config:");
    println!("  [[issuer]]");
    println!("  iss = \"https://airlock.local\"");
    println!("  jwks = \"{}\"", jwks_path.display());
    Ok(())
}

/// Creates `path` with `mode`; never overwrites an existing key.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).with_context(|| {
        format!("cannot create `{}` (it is never overwritten; remove it first to replace it)", path.display())
    })?;
    file.write_all(bytes).with_context(|| format!("cannot write `{}`", path.display()))
}

fn mint(args: &MintArgs) -> Result<(), Failure> {
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read key `{}`", args.key.display()))
        .map_err(Failure::usage)?;
    let key = LocalKey::from_pem(&pem)
        .map_err(|e| anyhow!("key `{}`: {e}", args.key.display()))
        .map_err(Failure::usage)?;
    let mut claims = Map::new();
    for spec in &args.claims {
        let (name, value) = args::parse_claim(spec).map_err(Failure::usage)?;
        if ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"].contains(&name.as_str()) {
            return Err(Failure::usage(anyhow!(
                "--claim {spec}: `{name}` is set by its own flag or by airlock"
            )));
        }
        claims.insert(name, value);
    }
    let token = key
        .mint(&MintRequest {
            issuer: args.iss.clone(),
            audience: args.aud.clone(),
            subject: args.sub.clone(),
            ttl: args.ttl,
            claims,
        })
        .map_err(|e| match e {
            KeyError::Claims(_) => Failure::usage(anyhow!(e)),
            e => Failure::internal(e),
        })?;
    println!("{token}");
    Ok(())
}
