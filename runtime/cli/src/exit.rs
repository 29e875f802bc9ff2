//! Exit codes: a stable contract for scripts and CI.

use std::process::ExitCode;

/// The tool ran and returned output.
pub(crate) const OK: u8 = 0;
/// The tool ran and failed: it returned `failed` or `invalid-input`, or it
/// trapped (crashed).
pub(crate) const TOOL_ERROR: u8 = 1;
/// The command line was wrong: bad flag, bad mount spec, unreadable input
/// file, input that is not JSON, a grant the tool did not request.
pub(crate) const USAGE: u8 = 2;
/// The tool was denied something it tried to use (it returned `denied`).
pub(crate) const DENIED: u8 = 3;
/// A limit ended the call: timeout, memory, stack or output size.
pub(crate) const LIMIT: u8 = 4;
/// The file is not a valid airlock tool (not wasm, a core module, wrong
/// world, `describe` trapped).
pub(crate) const INVALID_TOOL: u8 = 5;
/// airlock itself failed (engine, cache, I/O).
pub(crate) const INTERNAL: u8 = 6;
/// The runtime configuration or a policy file is invalid (nothing ran).
pub(crate) const CONFIG: u8 = 7;
/// `audit verify`: the log's chain is broken (edited, deleted, inserted,
/// reordered or torn records).
pub(crate) const AUDIT_BROKEN: u8 = 8;
/// Policy allows the call only with a human's approval: it was filed
/// (request id on stdout as JSON) and nothing ran.
pub(crate) const APPROVAL_REQUIRED: u8 = 9;
/// `policy diff`: NEW permits something OLD does not; `policy prove`: an
/// invariant is violated. Each comes with a replayed counterexample.
pub(crate) const POLICY_WIDENS: u8 = 22;
/// `policy diff` / `policy prove`: nothing was refuted, but not everything
/// was proven (the solver answered unknown or ran out of time, or is not
/// installed).
pub(crate) const NOT_PROVEN: u8 = 23;
/// `run --workspace`: the tool succeeded but changed nothing.
pub(crate) const WORKSPACE_UNCHANGED: u8 = 20;
/// `run --workspace`: at least one change was refused (by a rule or by
/// policy), or could not be checked or applied: nothing was applied.
pub(crate) const CHANGES_REFUSED: u8 = 21;

/// The token is not a well-formed JWT, or a required claim is missing or
/// of the wrong type.
pub(crate) const TOKEN_MALFORMED: u8 = 10;
/// The token has expired.
pub(crate) const TOKEN_EXPIRED: u8 = 11;
/// The token is not valid yet (`nbf` or `iat` in the future).
pub(crate) const TOKEN_NOT_YET_VALID: u8 = 12;
/// The token was issued for another audience.
pub(crate) const TOKEN_WRONG_AUDIENCE: u8 = 13;
/// The token's issuer is not trusted.
pub(crate) const TOKEN_UNKNOWN_ISSUER: u8 = 14;
/// No key of the issuer matches the token's `kid`, the key was withdrawn,
/// or the issuer's fetched keys are unavailable (too long unrefreshed).
pub(crate) const TOKEN_UNKNOWN_KEY: u8 = 15;
/// The token was already used.
pub(crate) const TOKEN_REPLAYED: u8 = 16;
/// The token lives longer than the maximum lifetime.
pub(crate) const TOKEN_TOO_LONG_LIVED: u8 = 17;
/// The token's signature does not verify.
pub(crate) const TOKEN_BAD_SIGNATURE: u8 = 18;
/// The token's algorithm is refused (`none`, HMAC, or not the key's).
pub(crate) const TOKEN_ALGORITHM: u8 = 19;

/// The exit code for a refused token.
pub(crate) fn for_token(error: &airlock_identity::TokenError) -> u8 {
    use airlock_identity::TokenError as E;
    match error {
        E::Malformed(_) => TOKEN_MALFORMED,
        E::Expired => TOKEN_EXPIRED,
        E::NotYetValid(_) => TOKEN_NOT_YET_VALID,
        E::WrongAudience { .. } => TOKEN_WRONG_AUDIENCE,
        E::UnknownIssuer(_) => TOKEN_UNKNOWN_ISSUER,
        E::UnknownKey { .. } | E::KeyWithdrawn(_) | E::KeysUnavailable { .. } => TOKEN_UNKNOWN_KEY,
        E::Replayed(_) => TOKEN_REPLAYED,
        E::TooLongLived { .. } => TOKEN_TOO_LONG_LIVED,
        E::BadSignature => TOKEN_BAD_SIGNATURE,
        E::Algorithm(_) => TOKEN_ALGORITHM,
        _ => INTERNAL,
    }
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) error: anyhow::Error,
}

impl Failure {
    pub(crate) fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self { code, error: error.into() }
    }

    pub(crate) fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self::new(USAGE, error)
    }

    pub(crate) fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::new(INTERNAL, error)
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}
