//! Counterexamples as airlock calls: the solver's request and entity store
//! read back into a [`Principal`], a [`ToolIdentity`] and a [`Capability`],
//! so the real [`airlock_policy::authz::Authorizer`] can decide it again.
//!
//! Reading back is also the last realism check: a value no airlock request
//! can carry (a host name with a space, a method in lowercase) cannot be
//! read back. It is then excluded and the solver asked again; see
//! [`Reading::Unreceivable`].

use std::fmt;

use airlock_policy::authz::{Capability, ToolIdentity};
use airlock_policy::{Destination, GuestPath, KNOWN_CLAIMS, Methods, Principal};
use cedar_policy::{Entities, EntityUid, EvalResult};
use cedar_policy_symcc::Env;
use serde_json::{Map, Value};

use crate::guard::string;

/// One call airlock could receive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The caller, as a verified token would describe it.
    pub principal: Principal,
    /// The tool called.
    pub tool: ToolIdentity,
    /// What it asks for.
    pub capability: Capability,
}

/// What a counterexample reads back as.
#[derive(Debug)]
pub(crate) enum Reading {
    /// A call airlock could receive.
    Call(Box<Call>),
    /// A value no airlock request can carry: `condition` (Cedar) excludes
    /// it from the next attempt; `reason` says why it is not receivable.
    Unreceivable { condition: String, reason: String },
}

/// Reads the solver's counterexample for `action` back as a call. An error
/// is a counterexample of a shape SymCC should never produce (a bug).
pub(crate) fn read(action: &str, env: &Env) -> Result<Reading, String> {
    let request = &env.request;
    let entities = &env.entities;
    let principal_uid = request.principal().ok_or("the request has no principal")?;
    let resource_uid = request.resource().ok_or("the request has no resource")?;
    let context = request.context().ok_or("the request has no context")?;
    let principal = match principal(entities, principal_uid)? {
        Ok(principal) => principal,
        Err(unreceivable) => return Ok(unreceivable),
    };
    let tool_uid = if action == "invoke" {
        resource_uid.clone()
    } else {
        match context.get("tool") {
            Some(EvalResult::EntityUid(uid)) => uid,
            _ => return Err("context.tool is not an entity".into()),
        }
    };
    let tool = ToolIdentity {
        name: string_attr(entities, &tool_uid, "name")?,
        version: string_attr(entities, &tool_uid, "version")?,
        digest: string_attr(entities, &tool_uid, "digest")?,
        source: string_attr(entities, &tool_uid, "source")?,
        signer: match attr(entities, &tool_uid, "signer")? {
            None => None,
            Some(EvalResult::String(s)) => Some(s),
            Some(other) => return Err(format!("{tool_uid}.signer is not a string: {other}")),
        },
    };
    let capability = match action {
        "invoke" => Capability::Invoke,
        "fs.read" | "fs.write" => {
            let path = string_attr(entities, resource_uid, "path")?;
            match GuestPath::new(&path) {
                Ok(path) if action == "fs.read" => Capability::FsRead(path),
                Ok(path) => Capability::FsWrite(path),
                Err(e) => {
                    return Ok(Reading::Unreceivable {
                        condition: format!("resource.path == {}", string(&path)),
                        reason: e.to_string(),
                    });
                }
            }
        }
        "net.connect" => {
            let destination = match destination(entities, resource_uid, "resource")? {
                Ok(d) => d,
                Err(unreceivable) => return Ok(unreceivable),
            };
            let listed = match context.get("methods") {
                Some(EvalResult::Set(set)) => set
                    .iter()
                    .map(|m| match m {
                        EvalResult::String(s) => Ok(s.clone()),
                        other => Err(format!("a method is not a string: {other}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err("context.methods is not a set".into()),
            };
            if let Some(bad) = listed.iter().find(|m| Methods::parse(&[m.as_str()]).is_err()) {
                return Ok(Reading::Unreceivable {
                    condition: format!("context.methods.contains({})", string(bad)),
                    reason: format!("`{bad}` is not a method a tool can ask for"),
                });
            }
            let methods = Methods::parse(&listed).map_err(|e| e.to_string())?;
            Capability::NetConnect { destination, methods }
        }
        "secret.use" => {
            let uid = match context.get("destination") {
                Some(EvalResult::EntityUid(uid)) => uid,
                _ => return Err("context.destination is not an entity".into()),
            };
            let destination = match destination(entities, &uid, "context.destination")? {
                Ok(d) => d,
                Err(unreceivable) => return Ok(unreceivable),
            };
            Capability::SecretUse { name: string_attr(entities, resource_uid, "name")?, destination }
        }
        "secret.reveal" => Capability::SecretReveal(string_attr(entities, resource_uid, "name")?),
        "env.read" => Capability::EnvRead(string_attr(entities, resource_uid, "name")?),
        other => return Err(format!("unknown action `{other}`")),
    };
    Ok(Reading::Call(Box::new(Call { principal, tool, capability })))
}

fn attr(entities: &Entities, uid: &EntityUid, name: &str) -> Result<Option<EvalResult>, String> {
    let entity = entities.get(uid).ok_or_else(|| format!("entity {uid} is not in the counterexample"))?;
    match entity.attr(name) {
        None => Ok(None),
        Some(Ok(value)) => Ok(Some(value)),
        Some(Err(e)) => Err(format!("{uid}.{name}: {e}")),
    }
}

fn string_attr(entities: &Entities, uid: &EntityUid, name: &str) -> Result<String, String> {
    match attr(entities, uid, name)? {
        Some(EvalResult::String(s)) => Ok(s),
        other => Err(format!("{uid}.{name} is not a string: {other:?}")),
    }
}

fn long_attr(entities: &Entities, uid: &EntityUid, name: &str) -> Result<i64, String> {
    match attr(entities, uid, name)? {
        Some(EvalResult::Long(n)) => Ok(n),
        other => Err(format!("{uid}.{name} is not a Long: {other:?}")),
    }
}

fn principal(entities: &Entities, uid: &EntityUid) -> Result<Result<Principal, Reading>, String> {
    let sub = string_attr(entities, uid, "sub")?;
    let iss = string_attr(entities, uid, "iss")?;
    let depth = long_attr(entities, uid, "act_depth")?;
    let act: Vec<String> = match attr(entities, uid, "act")? {
        Some(EvalResult::Set(set)) => set
            .iter()
            .map(|v| match v {
                EvalResult::String(s) => Ok(s.clone()),
                other => Err(format!("principal.act holds a non-string: {other}")),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(format!("principal.act is not a set: {other:?}")),
    };
    let depth = usize::try_from(depth).map_err(|_| format!("principal.act_depth is {depth}"))?;
    if act.len() > depth {
        let members = act.iter().map(|a| string(a)).collect::<Vec<_>>().join(", ");
        return Ok(Err(Reading::Unreceivable {
            condition: format!("principal.act_depth == {depth} && principal.act.containsAll([{members}])"),
            reason: format!("{} distinct actors in a chain of {depth}", act.len()),
        }));
    }
    let mut claims = Map::new();
    for name in KNOWN_CLAIMS {
        if let Some(value) = attr(entities, uid, name)? {
            let EvalResult::String(value) = value else {
                return Err(format!("principal.{name} is not a string"));
            };
            claims.insert((*name).to_owned(), Value::String(value));
        }
    }
    let entity = entities.get(uid).ok_or("the principal is not in the counterexample")?;
    for (name, value) in entity.tags() {
        if KNOWN_CLAIMS.contains(&name) {
            continue;
        }
        match value {
            Ok(EvalResult::String(s)) => {
                claims.insert(name.to_owned(), Value::String(s));
            }
            other => return Err(format!("tag `{name}` is not a string: {other:?}")),
        }
    }
    // The chain, outermost first: the distinct actors, the last repeated to
    // the depth (a set keeps no order and no repeats; policy sees neither).
    if let Some(last) = act.last() {
        let mut chain: Vec<String> = act.clone();
        chain.resize(depth, last.clone());
        if let Some(chain) = act_claim(&chain) {
            claims.insert("act".into(), chain);
        }
    }
    match Principal::from_claims(&sub, &iss, &claims) {
        Ok(principal) => Ok(Ok(principal)),
        Err(e) => Ok(Err(Reading::Unreceivable {
            condition: format!("principal.sub == {} && principal.iss == {}", string(&sub), string(&iss)),
            reason: e.to_string(),
        })),
    }
}

/// The `act` claim for a chain, outermost actor first.
fn act_claim(chain: &[String]) -> Option<Value> {
    let mut nested: Option<Value> = None;
    for actor in chain.iter().rev() {
        let mut object = Map::new();
        object.insert("sub".into(), Value::String(actor.clone()));
        if let Some(inner) = nested.take() {
            object.insert("act".into(), inner);
        }
        nested = Some(Value::Object(object));
    }
    nested
}

/// `principal` without the claim `name`, and without its delegation chain
/// when `drop_act`.
pub(crate) fn without(principal: &Principal, name: Option<&str>, drop_act: bool) -> Option<Principal> {
    let mut claims: Map<String, Value> = principal
        .claims()
        .filter(|(claim, _)| Some(*claim) != name)
        .map(|(claim, value)| (claim.to_owned(), Value::String(value.to_owned())))
        .collect();
    if !drop_act && let Some(chain) = act_claim(principal.act()) {
        claims.insert("act".into(), chain);
    }
    if drop_act && principal.act().is_empty() {
        return None;
    }
    Principal::from_claims(principal.sub(), principal.iss(), &claims).ok()
}

/// A `Host` read back as the destination whose entity it would be.
fn destination(
    entities: &Entities,
    uid: &EntityUid,
    expr: &str,
) -> Result<Result<Destination, Reading>, String> {
    let scheme = string_attr(entities, uid, "scheme")?;
    let host = string_attr(entities, uid, "host")?;
    let first = long_attr(entities, uid, "port_min")?;
    let last = long_attr(entities, uid, "port_max")?;
    let ports = if first == last { first.to_string() } else { format!("{first}-{last}") };
    let text = format!("{scheme}://{host}:{ports}");
    let parsed = text.parse::<Destination>().map_err(|e| e.to_string()).and_then(|d| {
        let same = d.scheme.to_string() == scheme
            && d.host.to_string() == host
            && i64::from(d.first_port) == first
            && i64::from(d.last_port) == last;
        if same { Ok(d) } else { Err(format!("`{text}` is written `{d}` by the runtime")) }
    });
    Ok(parsed.map_err(|reason| Reading::Unreceivable {
        condition: format!("{expr}.scheme == {} && {expr}.host == {}", string(&scheme), string(&host)),
        reason,
    }))
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.principal;
        write!(f, "    principal  Agent::{} (iss {}", string(p.sub()), string(p.iss()))?;
        for (name, value) in p.claims() {
            write!(f, ", {name} {}", string(value))?;
        }
        if !p.act().is_empty() {
            write!(f, ", acting for {}", p.act().join(" <- "))?;
        }
        writeln!(f, ")")?;
        writeln!(f, "    action     {}", self.capability.action())?;
        let t = &self.tool;
        let tool = format!(
            "Tool::{} (version {}, digest {})",
            string(&t.name),
            string(&t.version),
            string(&t.digest)
        );
        match &self.capability {
            Capability::Invoke => writeln!(f, "    resource   {tool}"),
            Capability::FsRead(path) | Capability::FsWrite(path) => {
                writeln!(f, "    resource   Path::{}", string(path.as_str()))?;
                writeln!(f, "    tool       {tool}")
            }
            Capability::NetConnect { destination, methods } => {
                writeln!(f, "    resource   Host::{}", string(&destination.to_string()))?;
                writeln!(f, "    tool       {tool}")?;
                writeln!(f, "    methods    {methods}")
            }
            Capability::SecretUse { name, destination } => {
                writeln!(f, "    resource   Secret::{}", string(name))?;
                writeln!(f, "    tool       {tool}")?;
                writeln!(f, "    for        Host::{}", string(&destination.to_string()))
            }
            Capability::SecretReveal(name) => {
                writeln!(f, "    resource   Secret::{}", string(name))?;
                writeln!(f, "    tool       {tool}")
            }
            Capability::EnvRead(name) => {
                writeln!(f, "    resource   EnvVar::{}", string(name))?;
                writeln!(f, "    tool       {tool}")
            }
            _ => writeln!(f, "    resource   {:?}", self.capability),
        }
    }
}
