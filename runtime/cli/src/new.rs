//! `airlock new`: a tool project in Rust, Python or TypeScript (source,
//! build script, README) that builds and runs with `airlock run` on the
//! first try. The project names the airlock checkout whose `wit/` and SDK it
//! builds with; nothing is fetched.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use crate::args::{Lang, NewArgs};
use crate::exit::Failure;

/// One file of a template: its path in the project, its text (with
/// `{{name}}`, `{{crate}}` and `{{airlock}}` to fill in), and whether it is
/// a script to run.
struct File {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

macro_rules! template {
    ($lang:literal: $($path:literal $(($executable:ident))?),+ $(,)?) => {
        &[$(File {
            path: $path,
            text: include_str!(concat!("../templates/", $lang, "/", $path)),
            executable: template!(@executable $($executable)?),
        }),+]
    };
    (@executable executable) => { true };
    (@executable) => { false };
}

const RUST: &[File] =
    template!("rust": "Cargo.toml", "src/lib.rs", "build.sh" (executable), "README.md", ".gitignore");
const PYTHON: &[File] = template!("python": "app.py", "build.sh" (executable), "README.md", ".gitignore");
const JS: &[File] = template!("js": "app.ts", "package.json", "tsconfig.json", "README.md", ".gitignore");

/// What a checkout must hold for each language.
fn needs(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Rust => &["wit/world.wit", "sdk/Cargo.toml"],
        Lang::Python => &["wit/world.wit", "sdk/python/airlock_sdk/__init__.py"],
        Lang::Js => &["wit/world.wit", "sdk/js/package.json", "sdk/js/bin/airlock-js-build.mjs"],
    }
}

pub(crate) fn new(args: NewArgs) -> Result<(), Failure> {
    check_name(&args.name).map_err(Failure::usage)?;
    let checkout = checkout(args.airlock.as_deref(), args.lang).map_err(Failure::usage)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.symlink_metadata().is_ok() {
        return Err(Failure::usage(anyhow!("{} already exists: nothing was written", dir.display())));
    }
    let files = match args.lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Js => JS,
    };
    let fill = |text: &str| {
        text.replace("{{name}}", &args.name)
            .replace("{{crate}}", &args.name.replace('-', "_"))
            .replace("{{airlock}}", &checkout)
    };
    write_project(&dir, files, fill).map_err(Failure::internal)?;
    let (language, next) = match args.lang {
        Lang::Rust => ("Rust", "./build.sh"),
        Lang::Python => {
            ("Python", "python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1 && ./build.sh")
        }
        Lang::Js => ("TypeScript", "npm install && npm run build"),
    };
    eprintln!(
        "created {} (a {language} tool `{}`); next: cd {} && {next}",
        dir.display(),
        args.name,
        dir.display()
    );
    Ok(())
}

/// A tool name that is also a valid package name in every language.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(anyhow!("tool name `{name}`: use 1-64 of [a-z0-9_-], starting with a letter"))
    }
}

/// The checkout's absolute path, as it will be written into the project.
fn checkout(given: Option<&Path>, lang: Lang) -> anyhow::Result<String> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (dir, how) = match given {
        Some(dir) => (dir.to_path_buf(), "--airlock"),
        None => (built_from, "the checkout this airlock was built from"),
    };
    let missing: Vec<&str> = needs(lang).iter().copied().filter(|file| !dir.join(file).is_file()).collect();
    if !missing.is_empty() {
        return Err(anyhow!(
            "{} ({how}) is not an airlock checkout: it has no {}; pass --airlock DIR (or AIRLOCK_CHECKOUT)",
            dir.display(),
            missing.join(", ")
        ));
    }
    let dir = dir.canonicalize().with_context(|| format!("cannot resolve {}", dir.display()))?;
    let text = dir.to_str().ok_or_else(|| anyhow!("{} is not UTF-8", dir.display()))?.to_owned();
    // It goes into TOML and JSON strings and shell words unescaped.
    if let Some(bad) = text.chars().find(|c| matches!(c, '"' | '\\' | '$' | '`' | '\'') || c.is_control()) {
        return Err(anyhow!(
            "the checkout's path {text} holds {bad:?}, which the project files cannot quote"
        ));
    }
    Ok(text)
}

/// Writes the project into a fresh directory next to `dir` and renames it
/// into place: `dir` appears whole or not at all.
fn write_project(dir: &Path, files: &[File], fill: impl Fn(&str) -> String) -> anyhow::Result<()> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".airlock-new-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    for file in files {
        let path = staging.path().join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, fill(file.text)).with_context(|| format!("cannot write {}", path.display()))?;
        if file.executable {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    // A temporary directory is private (0700); a project is not.
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set the permissions of {}", staging.path().display()))?;
    let staged = staging.keep();
    // Never over anything: `rename` would replace an empty directory made
    // since the check above; RENAME_NOREPLACE fails instead.
    let placed = rustix::fs::renameat_with(
        rustix::fs::CWD,
        &staged,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::NOREPLACE,
    );
    placed.map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        anyhow!("cannot create {}: {e}", dir.display())
    })
}
