//! What the operator sets up for the server: the policies, the approval
//! settings and the offer bound to each call. The server turns it, with the
//! audit log, into the [`Gateway`] every call goes through.

use std::sync::Arc;

use airlock_approval::{ApprovalGate, Approvers};
use airlock_audit::AuditSink;
use airlock_gateway::{Gateway, Metrics};
use airlock_host::LoadedTool;
use airlock_policy::Offer;
use airlock_policy::authz::Authorizer;

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
    metrics: Option<Arc<Metrics>>,
}

impl Gate {
    /// A gate deciding with `authorizer` and binding `offers`. With no
    /// approval settings ([`Gate::with_approvals`]), a call that policy
    /// allows only with approval is filed nowhere and fails.
    pub fn new(authorizer: Authorizer, offers: impl OfferSource) -> Self {
        let approvals = ApprovalGate::new(None, Approvers::new(Vec::new(), Vec::new()));
        Self { authorizer, offers: Box::new(offers), approvals, metrics: None }
    }

    /// The same gate, counting every call in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The same gate, checking calls marked `@approval` against `approvals`.
    pub fn with_approvals(mut self, approvals: ApprovalGate) -> Self {
        self.approvals = approvals;
        self
    }

    /// The gateway recording every call in `audit`, and the offers.
    pub(crate) fn into_gateway(self, audit: Arc<dyn AuditSink>) -> (Gateway, Box<dyn OfferSource>) {
        let gateway = Gateway::new(self.authorizer, self.approvals, audit);
        let gateway = match self.metrics {
            Some(metrics) => gateway.with_metrics(metrics),
            None => gateway,
        };
        (gateway, self.offers)
    }
}
