//! npm: `package-lock.json` (lockfile v2/v3, its `packages` map) says which
//! versions are installed; a direct dependency's spec in `package.json` is
//! raised, and its lock entries are moved to the fixed version so the two
//! agree. Both files are edited through a concrete syntax tree
//! (`jsonc-parser`), so key order, indentation and spacing stay.
//!
//! The moved lock entry points at the registry tarball of the new version
//! and drops its `integrity` (the hash of the old tarball, and the new one
//! cannot be known offline): `npm install` records it.

use std::collections::BTreeMap;

use airlock_sdk::ToolError;
use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::Value;

use crate::advisory::{Advisories, Remedy};
use crate::report::{Change, Report, Unfixed};
use crate::version::Ecosystem;
use crate::{Project, requirement};

const MANIFEST: &str = "package.json";
const LOCK: &str = "package-lock.json";
/// The `package.json` sections that hold installed dependencies.
const SECTIONS: [&str; 3] = ["dependencies", "devDependencies", "optionalDependencies"];

pub(crate) fn patch(
    project: &Project,
    advisories: &Advisories,
    report: &mut Report,
) -> Result<(), ToolError> {
    let Some((manifest_text, lock_text)) = project.manifest_and_lock(MANIFEST, LOCK, report)? else {
        return Ok(());
    };
    let manifest: Value = parse_value(project, MANIFEST, &manifest_text)?;
    let lock: Value = parse_value(project, LOCK, &lock_text)?;
    let Some(packages) = lock.get("packages").and_then(Value::as_object) else {
        report.note(format!(
            "{}: lockfile version 1 (no `packages` map) is not supported; run `npm install` once to upgrade it",
            project.display(LOCK)
        ));
        return Ok(());
    };
    report.files.push(project.display(MANIFEST));
    report.files.push(project.display(LOCK));
    let manifest_cst = parse_cst(project, MANIFEST, &manifest_text)?;
    let lock_cst = parse_cst(project, LOCK, &lock_text)?;
    let mut changed = false;

    // Installed versions, each with every lock path it is installed at.
    let mut installed: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (path, entry) in packages {
        let Some(name) = package_name(path) else { continue };
        if entry.get("link").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(version) = entry.get("version").and_then(Value::as_str) {
            installed.entry((name.to_owned(), version.to_owned())).or_default().push(path.clone());
        }
    }

    for ((name, version), paths) in installed {
        let Some(current) = Ecosystem::Npm.parse(&version) else { continue };
        let unfixed = |advisories, reason| Unfixed {
            file: project.display(LOCK),
            ecosystem: Ecosystem::Npm,
            package: name.clone(),
            version: version.clone(),
            advisories,
            reason,
        };
        let (to, ids) = match advisories.remedy(Ecosystem::Npm, &name, &current) {
            Remedy::Clean => continue,
            Remedy::Unfixable { advisories, reason } => {
                report.unfixed.push(unfixed(advisories, reason));
                continue;
            }
            Remedy::Upgrade { to, advisories } => (to, advisories),
        };
        let top_level = format!("node_modules/{name}");
        let direct = SECTIONS.iter().find_map(|s| {
            manifest.get(s).and_then(|d| d.get(&name)).and_then(Value::as_str).map(|spec| (*s, spec))
        });
        let nested: Vec<&String> = paths.iter().filter(|p| **p != top_level).collect();
        let Some((section, spec)) = direct.filter(|_| paths.contains(&top_level)) else {
            let reason = format!(
                "not a direct dependency in {}: add `\"overrides\": {{\"{name}\": \"{to}\"}}` to it and run `npm install`",
                project.display(MANIFEST)
            );
            report.unfixed.push(unfixed(ids, reason));
            continue;
        };
        let Some(raised) = requirement::raise(spec, &to) else {
            let reason = format!(
                "{} asks for `{spec}`, not a single version; raise it to {to} by hand",
                project.display(MANIFEST)
            );
            report.unfixed.push(unfixed(ids, reason));
            continue;
        };
        let to = to.to_string();
        set_string(&manifest_cst, &[section, &name], &raised);
        set_string(&lock_cst, &["packages", "", section, &name], &raised);
        // v2 lockfiles also keep the v1 `dependencies` map for old npm.
        for entry in [["packages", top_level.as_str()], ["dependencies", name.as_str()]] {
            move_entry(&lock_cst, &entry, &name, &version, &to);
        }
        changed = true;
        for file in [MANIFEST, LOCK] {
            report.changed.push(Change {
                file: project.display(file),
                ecosystem: Ecosystem::Npm,
                package: name.clone(),
                from: version.clone(),
                to: to.clone(),
                advisories: ids.clone(),
            });
        }
        if !nested.is_empty() {
            let reason = format!(
                "also installed under another package ({}): add `\"overrides\": {{\"{name}\": \"{to}\"}}` to {}",
                nested.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                project.display(MANIFEST)
            );
            report.unfixed.push(unfixed(ids.clone(), reason));
        }
    }
    if changed {
        project.write(MANIFEST, &manifest_cst.to_string())?;
        project.write(LOCK, &lock_cst.to_string())?;
        report.note(format!(
            "{}: moved entries have no `integrity` until `npm install` records the new tarballs' hashes",
            project.display(LOCK)
        ));
    }
    Ok(())
}

/// The package a `packages` key installs: the part after the last
/// `node_modules/` (scoped names keep their `@scope/`). The root (`""`)
/// and workspace folders are not packages from the registry.
fn package_name(path: &str) -> Option<&str> {
    let (_, name) = path.rsplit_once("node_modules/")?;
    (!name.is_empty()).then_some(name)
}

fn parse_value(project: &Project, name: &str, text: &str) -> Result<Value, ToolError> {
    serde_json::from_str(text).map_err(|e| project.unparsable(name, e))
}

fn parse_cst(project: &Project, name: &str, text: &str) -> Result<CstRootNode, ToolError> {
    CstRootNode::parse(text, &ParseOptions::default()).map_err(|e| project.unparsable(name, e))
}

/// The object at a key path, if every step is an object.
fn object_at(root: &CstRootNode, path: &[&str]) -> Option<CstObject> {
    let mut object = root.object_value()?;
    for key in path {
        object = object.get(key)?.object_value()?;
    }
    Some(object)
}

/// Replaces a string property's value, if it is there.
fn set_string(root: &CstRootNode, path: &[&str], value: &str) {
    let Some((key, parents)) = path.split_last() else { return };
    if let Some(prop) = object_at(root, parents).and_then(|o| o.get(key)) {
        prop.set_value(CstInputValue::String(value.to_owned()));
    }
}

/// Moves a top-level lock entry to `to`: version, tarball URL (when it is
/// the registry's `NAME/-/BASENAME-VERSION.tgz`), no integrity.
fn move_entry(lock: &CstRootNode, path: &[&str], name: &str, from: &str, to: &str) {
    let Some(entry) = object_at(lock, path) else { return };
    if let Some(version) = entry.get("version") {
        version.set_value(CstInputValue::String(to.to_owned()));
    }
    let basename = name.rsplit('/').next().unwrap_or(name);
    let old_tail = format!("/-/{basename}-{from}.tgz");
    if let Some(resolved) = entry.get("resolved") {
        let url = resolved.value().and_then(|v| v.as_string_lit()).and_then(|s| s.decoded_value().ok());
        match url.as_deref().and_then(|u| u.strip_suffix(&old_tail)) {
            Some(base) => resolved.set_value(CstInputValue::String(format!("{base}/-/{basename}-{to}.tgz"))),
            None => resolved.remove(),
        }
    }
    if let Some(integrity) = entry.get("integrity") {
        integrity.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_come_from_the_last_node_modules() {
        assert_eq!(package_name("node_modules/lodash"), Some("lodash"));
        assert_eq!(package_name("node_modules/a/node_modules/@scope/b"), Some("@scope/b"));
        assert_eq!(package_name(""), None);
        assert_eq!(package_name("packages/app"), None);
    }

    #[test]
    fn a_moved_entry_keeps_its_layout() {
        let text = "{\n  \"packages\": {\n    \"node_modules/lodash\": {\n      \"version\": \"4.17.15\",\n      \"resolved\": \"https://registry.npmjs.org/lodash/-/lodash-4.17.15.tgz\",\n      \"integrity\": \"sha512-old\",\n      \"dev\": true\n    }\n  }\n}\n";
        let root = CstRootNode::parse(text, &ParseOptions::default()).expect("parses");
        move_entry(&root, &["packages", "node_modules/lodash"], "lodash", "4.17.15", "4.17.21");
        assert_eq!(
            root.to_string(),
            "{\n  \"packages\": {\n    \"node_modules/lodash\": {\n      \"version\": \"4.17.21\",\n      \"resolved\": \"https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz\",\n      \"dev\": true\n    }\n  }\n}\n"
        );
    }
}
