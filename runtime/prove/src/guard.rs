//! Guards: what airlock's runtime guarantees about its entities, stated to
//! the solver.
//!
//! SymCC reasons about every entity store the schema allows. airlock builds
//! far fewer: a `Path`'s id is its `path` and it is `in` exactly its
//! ancestors; a `Host`'s attributes are parsed from its id; an `Agent`'s
//! tags repeat its claims. Without saying so, a proof would report
//! "widenings" no request could ever reach (`/workspace/src` not under
//! `/workspace`). Each guard is a `forbid` whose condition holds only for an
//! entity store airlock never builds; added to the left-hand set of a check,
//! the guards limit the proof to requests airlock can receive.

use std::fmt::Write;

use airlock_policy::{Destination, KNOWN_CLAIMS, MAX_ACT_DEPTH};

use crate::literals::Literals;

/// Prefix of every guard's policy id.
pub(crate) const GUARD_ID_PREFIX: &str = "__airlock_guard_";

/// Registered claims: never tags of an `Agent`.
const REGISTERED: [&str; 8] = ["sub", "iss", "aud", "exp", "nbf", "iat", "jti", "act"];

/// The entity-typed expressions of each action's requests.
pub(crate) fn expressions(action: &str) -> Vec<(&'static str, &'static str)> {
    let mut all = vec![("principal", "Agent")];
    let resource = match action {
        "invoke" => "Tool",
        "fs.read" | "fs.write" => "Path",
        "net.connect" => "Host",
        "secret.use" | "secret.reveal" => "Secret",
        _ => "EnvVar",
    };
    all.push(("resource", resource));
    if action != "invoke" {
        all.push(("context.tool", "Tool"));
    }
    if action == "secret.use" {
        all.push(("context.destination", "Host"));
    }
    all
}

/// The conditions under which a request of `action` is not one airlock
/// could build, for the entity literals in `literals`.
pub(crate) fn conditions(action: &str, literals: &Literals) -> Vec<String> {
    let mut out = Vec::new();
    for (expr, ty) in expressions(action) {
        match ty {
            "Agent" => agent(expr, literals, literals.reads_tags(), &mut out),
            "Tool" => tool(expr, literals, &mut out),
            "Path" => path(expr, literals, &mut out),
            "Host" => host(expr, literals, &mut out),
            other => named(expr, other, "name", literals, &mut out),
        }
    }
    literal_paths(action, literals, &mut out);
    methods(action, &mut out);
    out
}

/// `conditions` as Cedar `forbid` policies scoped to `action`.
pub(crate) fn policies(action: &str, conditions: &[String]) -> String {
    let mut text = String::new();
    for (i, condition) in conditions.iter().enumerate() {
        let _ = writeln!(
            text,
            "@id(\"{GUARD_ID_PREFIX}{i}\")\nforbid(principal, action == Action::\"{action}\", resource) when {{ {condition} }};"
        );
    }
    text
}

/// A Cedar string literal.
pub(crate) fn string(value: &str) -> String {
    format!("\"{}\"", value.escape_default())
}

/// A Cedar `like` pattern matching `prefix` followed by anything.
fn starts_with(prefix: &str) -> String {
    let mut pattern = String::from("\"");
    for c in prefix.chars() {
        match c {
            '*' => pattern.push_str("\\*"),
            c => pattern.extend(c.escape_default()),
        }
    }
    pattern.push_str("*\"");
    pattern
}

fn entity(ty: &str, id: &str) -> String {
    format!("{ty}::{}", string(id))
}

/// An entity whose id is one of its attributes: `Tool` (`name`), `Secret`
/// and `EnvVar` (`name`), `Agent` (`sub`), `Path` (`path`).
fn named(expr: &str, ty: &str, attr: &str, literals: &Literals, out: &mut Vec<String>) {
    out.push(format!("{expr}.{attr} == \"\""));
    for id in literals.ids(ty) {
        out.push(format!("({expr} == {}) != ({expr}.{attr} == {})", entity(ty, id), string(id)));
    }
}

/// `tags`: whether any policy reads tags; only then must the solver know
/// that an `Agent`'s tags repeat its claims.
/// A tool comes from a file (no signer) or from a pinned registry reference.
fn tool(expr: &str, literals: &Literals, out: &mut Vec<String>) {
    named(expr, "Tool", "name", literals, out);
    out.push(format!("!({expr}.source == \"file\" || {expr}.source like \"oci://*@sha256:*\")"));
    out.push(format!("{expr} has signer && {expr}.source == \"file\""));
}

fn agent(expr: &str, literals: &Literals, tags: bool, out: &mut Vec<String>) {
    named(expr, "Agent", "sub", literals, out);
    out.push(format!("{expr}.iss == \"\""));
    out.push(format!("{expr}.act_depth < 0 || {expr}.act_depth > {MAX_ACT_DEPTH}"));
    out.push(format!("({expr}.act_depth == 0) != {expr}.act.isEmpty()"));
    if !tags {
        return;
    }
    for claim in KNOWN_CLAIMS {
        let name = string(claim);
        out.push(format!("({expr} has {name}) != {expr}.hasTag({name})"));
        out.push(format!(
            "{expr} has {name} && {expr}.hasTag({name}) && {expr}.getTag({name}) != {expr}[{name}]"
        ));
    }
    for claim in REGISTERED {
        out.push(format!("{expr}.hasTag({})", string(claim)));
    }
}

fn path(expr: &str, literals: &Literals, out: &mut Vec<String>) {
    named(expr, "Path", "path", literals, out);
    // A mount or a changed file: absolute, normalised, never `/` itself.
    out.push(format!("{expr}.path == \"/\""));
    out.push(format!("!({expr}.path like \"/*\")"));
    for pattern in ["*//*", "*/", "*/./*", "*/.", "*/../*", "*/..", "*\\\\*"] {
        out.push(format!("{expr}.path like \"{pattern}\""));
    }
    // `in` is exactly "is or is under".
    for id in literals.ids("Path") {
        let under = if id == "/" {
            "true".to_owned()
        } else {
            format!("{expr}.path == {} || {expr}.path like {}", string(id), starts_with(&format!("{id}/")))
        };
        out.push(format!("({expr} in {}) != ({under})", entity("Path", id)));
    }
}

/// Two `Path` literals: `A in B` holds only when A is in the request's
/// entities (the resource or one of its ancestors) and A is B or under it.
fn literal_paths(action: &str, literals: &Literals, out: &mut Vec<String>) {
    let paths: Vec<&str> = literals.ids("Path").collect();
    let resource_is_path = matches!(action, "fs.read" | "fs.write");
    for a in &paths {
        for b in &paths {
            if a == b {
                continue;
            }
            let relation = format!("{} in {}", entity("Path", a), entity("Path", b));
            let under = *b == "/" || a.starts_with(&format!("{b}/"));
            if under && resource_is_path {
                let present = if *a == "/" {
                    "true".to_owned()
                } else {
                    format!(
                        "resource.path == {} || resource.path like {}",
                        string(a),
                        starts_with(&format!("{a}/"))
                    )
                };
                out.push(format!("({relation}) != ({present})"));
            } else {
                out.push(relation);
            }
        }
    }
}

/// The methods of a `net.connect`: never empty, never `CONNECT`.
fn methods(action: &str, out: &mut Vec<String>) {
    if action == "net.connect" {
        out.push("context.methods.isEmpty()".into());
        out.push("context.methods.contains(\"CONNECT\")".into());
    }
}

fn host(expr: &str, literals: &Literals, out: &mut Vec<String>) {
    out.push(format!("!([\"http\", \"https\", \"tcp\", \"udp\"].contains({expr}.scheme))"));
    out.push(format!("{expr}.port_min < 1 || {expr}.port_max > 65535 || {expr}.port_min > {expr}.port_max"));
    out.push(format!("{expr}.host == \"\""));
    for id in literals.ids("Host") {
        let literal = entity("Host", id);
        // The runtime's Host ids are destinations in their written form; a
        // literal in any other form never equals one.
        match id.parse::<Destination>().ok().filter(|d| d.to_string() == id) {
            Some(d) => out.push(format!(
                "({expr} == {literal}) != ({expr}.scheme == {} && {expr}.host == {} && {expr}.port_min == {} && {expr}.port_max == {})",
                string(&d.scheme.to_string()),
                string(&d.host.to_string()),
                d.first_port,
                d.last_port
            )),
            None => out.push(format!("{expr} == {literal}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_stars_and_quotes() {
        assert_eq!(starts_with("/a*b\"/"), "\"/a\\*b\\\"/*\"");
        assert_eq!(string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
