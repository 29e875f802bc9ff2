//! Who is calling: the verified claims of an agent's token.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::text::has_unprintable;

/// Longest delegation (`act`) chain accepted. Deeper chains are refused
/// rather than truncated: a policy on `act_depth` must see the real depth.
pub const MAX_ACT_DEPTH: usize = 8;

/// Claims the policy schema declares as typed `Agent` attributes. Every one
/// must be a scalar in the token; other claims are readable only as tags.
pub const KNOWN_CLAIMS: &[&str] = &[
    "owner",
    "agent_class",
    "env",
    "autonomy",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "repository_visibility",
    "ref",
    "ref_type",
    "ref_protected",
    "sha",
    "actor",
    "workflow",
    "workflow_ref",
    "job_workflow_ref",
    "environment",
    "event_name",
    "runner_environment",
];

/// Registered JWT claims: checked by the verifier, never policy attributes.
const REGISTERED_CLAIMS: &[&str] = &["sub", "iss", "aud", "exp", "nbf", "iat", "jti", "act"];

/// A verified caller. Built only from claims whose signature, issuer,
/// audience and lifetime were checked; the raw token is not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    sub: String,
    iss: String,
    claims: BTreeMap<String, String>,
    act: Vec<String>,
    token_lifetime: Option<u64>,
}

/// Why claims could not become a [`Principal`].
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrincipalError {
    /// `sub` or `iss` is empty.
    #[error("claim `{0}` is empty")]
    Empty(&'static str),
    /// A claim the policy reads as a string is an object or array.
    #[error("claim `{0}` must be a string, number or boolean")]
    NotScalar(String),
    /// The `act` claim is not a chain of `{"sub": "...", "act": {...}}` objects.
    #[error("claim `act` must be an object with a string `sub` (and optionally a nested `act`)")]
    MalformedAct,
    /// The delegation chain is deeper than [`MAX_ACT_DEPTH`].
    #[error("delegation chain (`act`) deeper than {MAX_ACT_DEPTH}")]
    ActTooDeep,
    /// An identifying claim holds a control character or a bidirectional
    /// override ([`crate::text::is_unprintable`]): shown to a human it
    /// would read as something it is not.
    #[error("claim `{0}` holds a control character or bidirectional override")]
    Unprintable(&'static str),
}

impl Principal {
    /// Builds a principal from a verified token's `sub`, `iss` and its other
    /// claims. Registered claims in `claims` are ignored; scalar claims become
    /// readable by policy (numbers and booleans as their JSON text); objects
    /// and arrays are not readable, and are an error for the claims in
    /// [`KNOWN_CLAIMS`].
    pub fn from_claims(sub: &str, iss: &str, claims: &Map<String, Value>) -> Result<Self, PrincipalError> {
        if sub.is_empty() {
            return Err(PrincipalError::Empty("sub"));
        }
        if iss.is_empty() {
            return Err(PrincipalError::Empty("iss"));
        }
        for (name, value) in [("sub", sub), ("iss", iss)] {
            if has_unprintable(value) {
                return Err(PrincipalError::Unprintable(name));
            }
        }
        let mut readable = BTreeMap::new();
        for (name, value) in claims {
            if REGISTERED_CLAIMS.contains(&name.as_str()) {
                continue;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => {
                    if KNOWN_CLAIMS.contains(&name.as_str()) {
                        return Err(PrincipalError::NotScalar(name.clone()));
                    }
                    continue;
                }
            };
            readable.insert(name.clone(), text);
        }
        let act = match claims.get("act") {
            None => Vec::new(),
            Some(value) => act_chain(value)?,
        };
        let token_lifetime =
            match (claims.get("iat").and_then(Value::as_u64), claims.get("exp").and_then(Value::as_u64)) {
                (Some(iat), Some(exp)) if exp >= iat => Some(exp - iat),
                _ => None,
            };
        Ok(Self { sub: sub.to_owned(), iss: iss.to_owned(), claims: readable, act, token_lifetime })
    }

    /// How long the token this caller presented lives, in seconds (`exp`
    /// minus `iat`), when it carries both: for the audit log, never for
    /// policy (the verifier has already enforced the configured maximum).
    pub fn token_lifetime(&self) -> Option<u64> {
        self.token_lifetime
    }

    /// This caller, whose token lives `seconds` (`exp` minus `iat`), for a
    /// verifier that reads those claims itself.
    #[must_use]
    pub fn with_token_lifetime(self, seconds: u64) -> Self {
        Self { token_lifetime: Some(seconds), ..self }
    }

    /// The subject: the agent's stable identifier.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The issuer that vouched for it.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// One scalar claim as policy sees it.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).map(String::as_str)
    }

    /// Every scalar claim as policy sees it, in name order.
    pub fn claims(&self) -> impl Iterator<Item = (&str, &str)> {
        self.claims.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The delegation chain, outermost actor first (empty if not delegated).
    pub fn act(&self) -> &[String] {
        &self.act
    }
}

fn act_chain(mut value: &Value) -> Result<Vec<String>, PrincipalError> {
    let mut chain = Vec::new();
    loop {
        let object = value.as_object().ok_or(PrincipalError::MalformedAct)?;
        let sub = object.get("sub").and_then(Value::as_str).ok_or(PrincipalError::MalformedAct)?;
        if chain.len() == MAX_ACT_DEPTH {
            return Err(PrincipalError::ActTooDeep);
        }
        if has_unprintable(sub) {
            return Err(PrincipalError::Unprintable("act"));
        }
        chain.push(sub.to_owned());
        match object.get("act") {
            None => return Ok(chain),
            Some(next) => value = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_token_lifetime_is_exp_minus_iat_when_both_are_there() {
        let with = |claims: serde_json::Value| {
            Principal::from_claims("agent:a", "https://i", claims.as_object().expect("object"))
                .expect("principal")
        };
        assert_eq!(with(serde_json::json!({"iat": 1000, "exp": 1600})).token_lifetime(), Some(600));
        assert_eq!(with(serde_json::json!({"exp": 1600})).token_lifetime(), None);
        assert_eq!(with(serde_json::json!({"iat": 1600, "exp": 1000})).token_lifetime(), None);
        // Never a policy attribute.
        assert_eq!(with(serde_json::json!({"iat": 1000, "exp": 1600})).claims().count(), 0);
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn scalar_claims_are_readable_and_registered_ones_are_not() {
        let p = Principal::from_claims(
            "agent",
            "https://issuer",
            &claims(json!({"repository": "acme/app", "run_number": 7, "ref_protected": true,
                            "exp": 1, "jti": "x", "nested": {"a": 1}})),
        )
        .expect("valid claims");
        assert_eq!(p.claim("repository"), Some("acme/app"));
        assert_eq!(p.claim("run_number"), Some("7"));
        assert_eq!(p.claim("ref_protected"), Some("true"));
        assert_eq!(p.claim("exp"), None);
        assert_eq!(p.claim("jti"), None);
        assert_eq!(p.claim("nested"), None);
    }

    #[test]
    fn known_claim_must_be_scalar() {
        let err = Principal::from_claims("a", "i", &claims(json!({"repository": ["x"]})));
        assert_eq!(err, Err(PrincipalError::NotScalar("repository".into())));
    }

    #[test]
    fn act_chain_is_flattened_outermost_first() {
        let p = Principal::from_claims(
            "agent",
            "i",
            &claims(json!({"act": {"sub": "orchestrator", "act": {"sub": "human:bob"}}})),
        )
        .expect("valid act");
        assert_eq!(p.act(), ["orchestrator".to_owned(), "human:bob".to_owned()]);
    }

    #[test]
    fn malformed_or_deep_act_is_refused() {
        assert_eq!(
            Principal::from_claims("a", "i", &claims(json!({"act": "bob"}))),
            Err(PrincipalError::MalformedAct)
        );
        let mut deep = json!({"sub": "last"});
        for i in 0..MAX_ACT_DEPTH {
            deep = json!({"sub": format!("a{i}"), "act": deep});
        }
        assert_eq!(
            Principal::from_claims("a", "i", &claims(json!({ "act": deep }))),
            Err(PrincipalError::ActTooDeep)
        );
    }

    #[test]
    fn identifying_claims_with_control_characters_are_refused() {
        let forged = "bot\n     9  2026-01-01  ok  admin";
        assert_eq!(Principal::from_claims(forged, "i", &Map::new()), Err(PrincipalError::Unprintable("sub")));
        assert_eq!(
            Principal::from_claims("a", "i\u{1b}[2K", &Map::new()),
            Err(PrincipalError::Unprintable("iss"))
        );
        assert_eq!(
            Principal::from_claims("a", "i", &claims(json!({"act": {"sub": "bob\u{202e}nimda"}}))),
            Err(PrincipalError::Unprintable("act"))
        );
        let message = PrincipalError::Unprintable("sub").to_string();
        assert!(message.contains("`sub`") && message.contains("control character"), "{message}");
    }

    #[test]
    fn empty_subject_is_refused() {
        assert_eq!(Principal::from_claims("", "i", &Map::new()), Err(PrincipalError::Empty("sub")));
    }
}
