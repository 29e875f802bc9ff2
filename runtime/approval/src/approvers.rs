//! Who may approve: the operator's rule for human principals, the
//! break-glass list, and how long approvals live.

use std::time::Duration;

use airlock_policy::Principal;

use crate::ApprovalError;

/// The longest an approval may stay usable.
pub const MAX_APPROVAL_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The longest a break-glass window may stay open.
pub const MAX_BREAK_GLASS: Duration = Duration::from_secs(60 * 60);

/// A verified token is a human's when it comes from `iss` and its `sub`
/// starts with `sub_prefix`. Delegated tokens (with an `act` chain) never
/// are: they speak for someone else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HumanRule {
    /// The exact issuer (it must also be trusted as an `[[issuer]]`).
    pub iss: String,
    /// The prefix every human `sub` of that issuer has, such as `human:`.
    pub sub_prefix: String,
}

/// The operator's approval settings.
#[derive(Clone, Debug)]
pub struct Approvers {
    humans: Vec<HumanRule>,
    break_glass: Vec<String>,
    approval_lifetime: Duration,
    request_lifetime: Duration,
}

impl Approvers {
    /// Default life of an approval once granted: 15 minutes.
    pub const DEFAULT_APPROVAL_LIFETIME: Duration = Duration::from_secs(15 * 60);
    /// Default time a request waits for a human: 24 hours.
    pub const DEFAULT_REQUEST_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

    /// Approval settings. With no `humans`, nobody can approve (calls that
    /// need approval are filed and wait). `break_glass` names `sub`s, who
    /// must also be human by `humans`.
    pub fn new(humans: Vec<HumanRule>, break_glass: Vec<String>) -> Self {
        Self {
            humans,
            break_glass,
            approval_lifetime: Self::DEFAULT_APPROVAL_LIFETIME,
            request_lifetime: Self::DEFAULT_REQUEST_LIFETIME,
        }
    }

    /// Sets how long an approval stays usable (at most
    /// [`MAX_APPROVAL_LIFETIME`]).
    pub fn with_approval_lifetime(mut self, lifetime: Duration) -> Result<Self, ApprovalError> {
        if lifetime > MAX_APPROVAL_LIFETIME || lifetime.is_zero() {
            return Err(ApprovalError::TooLong {
                what: "approval lifetime",
                asked: lifetime,
                max: MAX_APPROVAL_LIFETIME,
            });
        }
        self.approval_lifetime = lifetime;
        Ok(self)
    }

    /// Sets how long a filed request waits for a human.
    pub fn with_request_lifetime(mut self, lifetime: Duration) -> Self {
        self.request_lifetime = lifetime;
        self
    }

    /// How long an approval stays usable.
    pub fn approval_lifetime(&self) -> Duration {
        self.approval_lifetime
    }

    /// How long a filed request waits for a human.
    pub fn request_lifetime(&self) -> Duration {
        self.request_lifetime
    }

    /// Refuses `approver` unless a [`HumanRule`] makes it a human.
    pub fn check_human(&self, approver: &Principal) -> Result<(), ApprovalError> {
        let refuse = |why: String| ApprovalError::NotHuman {
            sub: approver.sub().to_owned(),
            iss: approver.iss().to_owned(),
            why,
        };
        if !approver.act().is_empty() {
            return Err(refuse(
                "the token is delegated (it has an `act` chain); a human approves with their own token"
                    .into(),
            ));
        }
        if self.humans.is_empty() {
            return Err(refuse("the config names no human approvers (`[[approvals.human]]`)".into()));
        }
        let human = self
            .humans
            .iter()
            .any(|rule| rule.iss == approver.iss() && approver.sub().starts_with(&rule.sub_prefix));
        if human {
            Ok(())
        } else {
            let rules: Vec<String> =
                self.humans.iter().map(|r| format!("`{}*` from `{}`", r.sub_prefix, r.iss)).collect();
            Err(refuse(format!("humans are {}", rules.join(", "))))
        }
    }

    /// Whether `sub` (of issuer `iss`) is, by the current settings, a human
    /// named for break-glass. Windows opened by someone no longer named stop
    /// counting.
    pub fn names_break_glass(&self, sub: &str, iss: &str) -> bool {
        self.break_glass.iter().any(|named| named == sub)
            && self.humans.iter().any(|rule| rule.iss == iss && sub.starts_with(&rule.sub_prefix))
    }

    /// Refuses `principal` unless it is human and named for break-glass.
    pub fn check_break_glass(&self, principal: &Principal) -> Result<(), ApprovalError> {
        self.check_human(principal)?;
        if self.break_glass.iter().any(|sub| sub == principal.sub()) {
            Ok(())
        } else {
            Err(ApprovalError::NotBreakGlass(principal.sub().to_owned()))
        }
    }
}
