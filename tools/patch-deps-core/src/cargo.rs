//! Cargo: `Cargo.lock` says which versions are installed; the requirement
//! in `Cargo.toml` (the root manifest, its `[workspace.dependencies]` and
//! its workspace members) is raised, with `toml_edit` so formatting and
//! comments stay as they were.
//!
//! `Cargo.lock` itself is not edited: each entry carries the registry's
//! checksum of the crate, which cannot be known offline. Cargo moves the
//! entry to the raised requirement on the next `cargo update -p NAME` (or
//! any build without `--locked`); the report says so.

use std::collections::BTreeSet;

use airlock_sdk::ToolError;
use serde::Deserialize;
use toml_edit::{DocumentMut, Item, TableLike};

use crate::advisory::{Advisories, Remedy};
use crate::report::{Change, Report, Unfixed};
use crate::version::{Ecosystem, Version};
use crate::{Project, requirement};

const MANIFEST: &str = "Cargo.toml";
const LOCK: &str = "Cargo.lock";
/// The kinds of dependency table a manifest may hold.
const KINDS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Locked>,
}

#[derive(Deserialize)]
struct Locked {
    name: String,
    version: String,
    source: Option<String>,
}

/// A manifest of the project, parsed for editing.
struct Manifest {
    name: String,
    doc: DocumentMut,
    changed: bool,
}

/// Where one dependency is declared: which manifest, which table, which
/// key, and the crate it names (its `package` key when renamed).
struct Declared {
    manifest: usize,
    table: Vec<String>,
    key: String,
    package: String,
    requirement: String,
}

pub(crate) fn patch(
    project: &Project,
    advisories: &Advisories,
    report: &mut Report,
) -> Result<(), ToolError> {
    let Some((root, lock)) = project.manifest_and_lock(MANIFEST, LOCK, report)? else { return Ok(()) };
    let lock: Lock = toml::from_str(&lock).map_err(|e| project.unparsable(LOCK, e))?;
    let mut manifests = vec![parse(project, MANIFEST, &root)?];
    for member in members(project, &manifests[0].doc)? {
        let name = format!("{member}/{MANIFEST}");
        if let Some(text) = project.read(&name)? {
            manifests.push(parse(project, &name, &text)?);
        }
    }
    report.files.extend(manifests.iter().map(|m| project.display(&m.name)));
    report.files.push(project.display(LOCK));
    let declared: Vec<Declared> =
        manifests.iter().enumerate().flat_map(|(i, m)| declarations(i, &m.doc)).collect();

    let mut updates = BTreeSet::new();
    for locked in lock.package.iter().filter(|p| from_crates_io(p.source.as_deref())) {
        let Some(installed) = Ecosystem::CratesIo.parse(&locked.version) else { continue };
        let unfixed = |advisories, reason| Unfixed {
            file: project.display(LOCK),
            ecosystem: Ecosystem::CratesIo,
            package: locked.name.clone(),
            version: locked.version.clone(),
            advisories,
            reason,
        };
        let (to, ids) = match advisories.remedy(Ecosystem::CratesIo, &locked.name, &installed) {
            Remedy::Clean => continue,
            Remedy::Unfixable { advisories, reason } => {
                report.unfixed.push(unfixed(advisories, reason));
                continue;
            }
            Remedy::Upgrade { to, advisories } => (to, advisories),
        };
        let sites: Vec<&Declared> = declared
            .iter()
            .filter(|d| d.package == locked.name && allows(&d.requirement, &installed))
            .collect();
        if sites.is_empty() {
            let reason = format!(
                "not a direct dependency in any {MANIFEST}: `cargo update -p {}@{} --precise {to}`",
                locked.name, locked.version
            );
            report.unfixed.push(unfixed(ids, reason));
            continue;
        }
        for site in sites {
            let manifest = &mut manifests[site.manifest];
            let Some(raised) = requirement::raise(&site.requirement, &to) else {
                let reason = format!(
                    "{} requires `{}`, not a single version; raise it to {to} by hand",
                    project.display(&manifest.name),
                    site.requirement
                );
                report.unfixed.push(unfixed(ids.clone(), reason));
                continue;
            };
            set_requirement(&mut manifest.doc, site, &raised);
            manifest.changed = true;
            updates.insert(format!("cargo update -p {}@{} --precise {to}", locked.name, locked.version));
            report.changed.push(Change {
                file: project.display(&manifest.name),
                ecosystem: Ecosystem::CratesIo,
                package: locked.name.clone(),
                from: locked.version.clone(),
                to: to.to_string(),
                advisories: ids.clone(),
            });
        }
    }
    for manifest in manifests.iter().filter(|m| m.changed) {
        project.write(&manifest.name, &manifest.doc.to_string())?;
    }
    if !updates.is_empty() {
        let commands: Vec<String> = updates.into_iter().collect();
        report.note(format!(
            "{} still pins the old versions (its checksums need the registry): {}",
            project.display(LOCK),
            commands.join("; ")
        ));
    }
    Ok(())
}

fn parse(project: &Project, name: &str, text: &str) -> Result<Manifest, ToolError> {
    let doc = text.parse::<DocumentMut>().map_err(|e| project.unparsable(name, e))?;
    Ok(Manifest { name: name.to_owned(), doc, changed: false })
}

fn from_crates_io(source: Option<&str>) -> bool {
    matches!(
        source,
        Some("registry+https://github.com/rust-lang/crates.io-index" | "sparse+https://index.crates.io/")
    )
}

/// Workspace member directories: literal paths and `dir/*` globs.
fn members(project: &Project, root: &DocumentMut) -> Result<Vec<String>, ToolError> {
    let Some(list) = root.get("workspace").and_then(|w| w.get("members")).and_then(Item::as_array) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for member in list.iter().filter_map(|v| v.as_str()) {
        let member = member.trim_end_matches('/');
        if member.contains("..") || member.starts_with('/') {
            continue;
        }
        match member.strip_suffix("/*") {
            Some(parent) => {
                let Ok(entries) = std::fs::read_dir(project.path(parent)) else { continue };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .map(|n| format!("{parent}/{n}"))
                    .collect();
                names.sort();
                out.extend(names);
            }
            None if !member.contains(['*', '?', '[']) => out.push(member.to_owned()),
            None => {}
        }
    }
    Ok(out)
}

/// Every dependency table of a manifest, as key paths.
fn tables(doc: &DocumentMut) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = KINDS.iter().map(|k| vec![(*k).to_owned()]).collect();
    out.push(vec!["workspace".into(), "dependencies".into()]);
    if let Some(targets) = doc.get("target").and_then(Item::as_table_like) {
        for (cfg, _) in targets.iter() {
            out.extend(KINDS.iter().map(|k| vec!["target".into(), cfg.to_owned(), (*k).to_owned()]));
        }
    }
    out
}

fn table<'a>(doc: &'a DocumentMut, path: &[String]) -> Option<&'a dyn TableLike> {
    let mut item = doc.as_item();
    for key in path {
        item = item.as_table_like()?.get(key)?;
    }
    item.as_table_like()
}

fn declarations(manifest: usize, doc: &DocumentMut) -> Vec<Declared> {
    let mut out = Vec::new();
    for path in tables(doc) {
        let Some(deps) = table(doc, &path) else { continue };
        for (key, item) in deps.iter() {
            let detailed = item.as_table_like();
            // `workspace = true` entries are raised where they are declared.
            let requirement = match item.as_str() {
                Some(req) => req,
                None => match detailed.and_then(|t| t.get("version")).and_then(Item::as_str) {
                    Some(req) => req,
                    None => continue,
                },
            };
            let package = detailed.and_then(|t| t.get("package")).and_then(Item::as_str).unwrap_or(key);
            out.push(Declared {
                manifest,
                table: path.clone(),
                key: key.to_owned(),
                package: package.to_owned(),
                requirement: requirement.to_owned(),
            });
        }
    }
    out
}

/// Whether the declaration is the one the locked version was resolved for.
fn allows(req: &str, installed: &Version) -> bool {
    let Version::Semver(installed) = installed else { return false };
    semver::VersionReq::parse(req).is_ok_and(|r| r.matches(installed))
}

/// Rewrites the requirement's string, keeping the whitespace and comment
/// around it.
fn set_requirement(doc: &mut DocumentMut, declared: &Declared, raised: &str) {
    let mut item = doc.as_item_mut();
    for key in declared.table.iter().chain([&declared.key]) {
        let Some(next) = item.as_table_like_mut().and_then(|t| t.get_mut(key)) else { return };
        item = next;
    }
    if item.is_table_like() {
        let Some(version) = item.as_table_like_mut().and_then(|t| t.get_mut("version")) else { return };
        item = version;
    }
    if let Some(value) = item.as_value_mut() {
        let decor = value.decor().clone();
        *value = toml_edit::Value::from(raised);
        *value.decor_mut() = decor;
    }
}
