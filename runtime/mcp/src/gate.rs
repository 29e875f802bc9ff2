//! What a caller may do with a tool: the policy decision (taken once per
//! caller and tool) and the grants for one call.

use std::sync::Arc;

use std::time::SystemTime;

use airlock_approval::{ApprovalGate, Approvers, Clearance};
use airlock_host::LoadedTool;
use airlock_policy::authz::{Authorizer, Decision};
use airlock_policy::{CapabilityRequest, GrantSet, Offer, Principal};

use crate::caller::Caller;
use crate::catalog::CatalogTool;

/// What the operator binds to a call of a tool: the host directories behind
/// the tool's requested mounts, env values, secrets from the store, limits.
/// Policy then decides which of it the caller gets; nothing outside the
/// tool's request may be offered (the call fails with an error naming it).
pub trait OfferSource: Send + Sync + 'static {
    /// The offer for one call of `tool`. An error fails the call and is
    /// logged; the agent sees only that the call could not be prepared.
    fn offer(&self, tool: &LoadedTool) -> Result<Offer, String>;
}

/// Policy plus the operator's offer: from a caller and a tool to grants.
pub struct Gate {
    authorizer: Authorizer,
    offers: Box<dyn OfferSource>,
    approvals: ApprovalGate,
}

/// The decision for one caller and tool, and the request it answered.
pub(crate) struct Authorized {
    pub(crate) decision: Arc<Decision>,
    request: CapabilityRequest,
}

impl Gate {
    /// A gate deciding with `authorizer` and binding `offers`. With no
    /// approval settings ([`Gate::with_approvals`]), a call that policy
    /// allows only with approval is filed nowhere and fails.
    pub fn new(authorizer: Authorizer, offers: impl OfferSource) -> Self {
        let approvals = ApprovalGate::new(None, Approvers::new(Vec::new(), Vec::new()));
        Self { authorizer, offers: Box::new(offers), approvals }
    }

    /// The same gate, checking calls marked `@approval` against `approvals`.
    pub fn with_approvals(mut self, approvals: ApprovalGate) -> Self {
        self.approvals = approvals;
        self
    }

    /// The decision for `caller` and `tool`, taken on first use and then
    /// remembered by the caller.
    pub(crate) fn authorize(&self, caller: &Caller, tool: &CatalogTool) -> Result<Arc<Authorized>, String> {
        if let Some(known) = caller.decision(&tool.identity.name) {
            return Ok(known);
        }
        let request = tool
            .tool
            .info()
            .capabilities
            .with_offered_hosts(&tool.identity.name, &[])
            .map_err(|e| e.to_string())?;
        let decision = self
            .authorizer
            .decide(caller.principal(), &tool.identity, &request)
            .map_err(|e| e.to_string())?;
        let authorized = Arc::new(Authorized { decision: Arc::new(decision), request });
        caller.remember(&tool.identity.name, authorized.clone());
        Ok(authorized)
    }

    /// Whether a call `principal` makes, with `input`, may run now (see
    /// [`ApprovalGate::clear`]). Touches the approval store (SQLite) only
    /// when the decision needs approval: run it off the async workers.
    pub(crate) fn clear(
        &self,
        principal: &Principal,
        decision: &Decision,
        grants: &GrantSet,
        input: &str,
        presented: Option<&str>,
    ) -> Result<Clearance, String> {
        self.approvals
            .clear(principal, decision, grants, input, presented, SystemTime::now())
            .map_err(|e| e.to_string())
    }

    /// The grants for one call: the permitted part of the request bound to
    /// this call's offer.
    pub(crate) fn grants(&self, authorized: &Authorized, tool: &CatalogTool) -> Result<GrantSet, String> {
        let offer = self.offers.offer(&tool.tool)?;
        authorized.decision.grants(&authorized.request, &offer).map_err(|e| e.to_string())
    }
}
