//! Deciding whether a call that policy allowed may run now: the one place
//! the CLI and the MCP server ask.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use airlock_audit::{ApprovalStatus, CallApproval};
use airlock_policy::authz::Decision;
use airlock_policy::{GrantSet, Principal};

use crate::store::format_ms;
use crate::{ApprovalError, ApprovalStore, Approvers, Authority, CallRequest, Filed, StoreError};

/// The `_meta` key an MCP client re-submits a call's approval id under.
pub const MCP_META_KEY: &str = "airlock/approval";

/// Approval settings plus the store, opened on first use (calls that need
/// no approval never touch it).
#[derive(Debug)]
pub struct ApprovalGate {
    approvers: Approvers,
    dir: Option<PathBuf>,
    store: Mutex<Option<Arc<ApprovalStore>>>,
}

/// Whether a call may run.
#[derive(Debug)]
pub enum Clearance {
    /// Nothing in it needs approval.
    NotNeeded,
    /// It needs approval and has it: an approval of this very request
    /// (now used up) or an open break-glass window.
    Cleared {
        /// The request as approved.
        request: Box<CallRequest>,
        /// What lets it run.
        authority: Box<Authority>,
    },
    /// It needs approval and has none: it is filed for a human and must
    /// not run.
    Filed {
        /// The filed request.
        filed: Box<Filed>,
        /// Why an approval id presented with the call was not used.
        refusal: Option<ApprovalError>,
    },
}

impl ApprovalGate {
    /// A gate using the store in `dir`. Without one, calls that need
    /// approval fail (naming the missing setting) and all others run.
    pub fn new(dir: Option<PathBuf>, approvers: Approvers) -> Self {
        Self { approvers, dir, store: Mutex::new(None) }
    }

    /// Who may approve, and for how long.
    pub fn approvers(&self) -> &Approvers {
        &self.approvers
    }

    /// A gate using `store`, already open (a fleet's shared store).
    pub fn shared(store: Arc<ApprovalStore>, approvers: Approvers) -> Self {
        Self { approvers, dir: None, store: Mutex::new(Some(store)) }
    }

    /// The embedded store's directory, if one is configured.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether a store is configured (a directory or a shared store):
    /// without one, calls that need approval fail.
    pub fn configured(&self) -> bool {
        self.dir.is_some() || self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
    }

    /// The store, opened on first use.
    pub fn store(&self) -> Result<Arc<ApprovalStore>, StoreError> {
        let mut slot = self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let dir = self.dir.as_deref().ok_or(StoreError::NotConfigured)?;
        let store = Arc::new(ApprovalStore::open(dir)?);
        *slot = Some(store.clone());
        Ok(store)
    }

    /// Decides whether `principal`'s call, decided as `decision`, bound to
    /// `grants`, with `input`, may run at `now`. Nothing is hashed or read
    /// unless the decision needs approval. A call that needs approval
    /// runs with the approval `presented` (used up here) if it is for this
    /// very request, or inside an open break-glass window for the caller;
    /// otherwise it is filed (or its pending request found again).
    pub fn clear(
        &self,
        principal: &Principal,
        decision: &Decision,
        grants: &GrantSet,
        input: &str,
        presented: Option<&str>,
        now: SystemTime,
    ) -> Result<Clearance, StoreError> {
        if decision.needing_approval().next().is_none() {
            return Ok(Clearance::NotNeeded);
        }
        let request = CallRequest::new(principal, decision, grants, &airlock_audit::input_sha256(input));
        let store = self.store()?;
        let mut refusal = None;
        if let Some(id) = presented {
            match store.redeem(id, &request, now) {
                Ok(authority) => {
                    return Ok(Clearance::Cleared {
                        request: Box::new(request),
                        authority: Box::new(authority),
                    });
                }
                Err(ApprovalError::Store(e)) => return Err(e),
                Err(other) => refusal = Some(other),
            }
        }
        let windows = store.break_glass_for(&request.requester, now)?;
        // A window counts only while its opener is still named for it.
        if let Some(window) =
            windows.into_iter().find(|w| self.approvers.names_break_glass(&w.opener, &w.opener_iss))
        {
            let authority = Box::new(Authority::BreakGlass(window));
            return Ok(Clearance::Cleared { request: Box::new(request), authority });
        }
        let filed = store.file(&request, now, self.approvers.request_lifetime())?;
        Ok(Clearance::Filed { filed: Box::new(filed), refusal })
    }
}

impl Clearance {
    /// What the audit event records about the approval, if one was needed.
    pub fn audit_record(&self) -> Option<CallApproval> {
        match self {
            Self::NotNeeded => None,
            Self::Cleared { request, authority } => {
                let gated = request.gated().collect();
                Some(match authority.as_ref() {
                    Authority::Approval { id, hash, granted } => CallApproval {
                        status: ApprovalStatus::Approved,
                        id: id.clone(),
                        request_hash: hash.clone(),
                        gated,
                        approver: Some(granted.approver.clone()),
                        reason: granted.reason.clone(),
                    },
                    Authority::BreakGlass(window) => CallApproval {
                        status: ApprovalStatus::BreakGlass,
                        id: window.id.clone(),
                        request_hash: request.hash(),
                        gated,
                        approver: Some(window.opener.clone()),
                        reason: Some(window.reason.clone()),
                    },
                })
            }
            Self::Filed { filed, .. } => Some(CallApproval {
                status: ApprovalStatus::Required,
                id: filed.id.clone(),
                request_hash: filed.hash.clone(),
                gated: filed.request.gated().collect(),
                approver: None,
                reason: None,
            }),
        }
    }

    /// For a filed call: what the caller is told, ending with how to
    /// re-submit (`resubmit`, such as "`--approval apr-…`"). `None`
    /// otherwise.
    pub fn message(&self, resubmit: &str) -> Option<String> {
        let Self::Filed { filed, refusal } = self else { return None };
        let mut text = String::new();
        if let Some(refusal) = refusal {
            text.push_str(&format!("the approval presented was not used: {refusal}\n"));
        }
        text.push_str(&format!(
            "approval required: policy allows `{}` for `{}` only with a human's approval of:\n",
            filed.request.tool.name, filed.request.requester.sub
        ));
        for gated in filed.request.gated() {
            text.push_str(&format!("  {gated}\n"));
        }
        text.push_str(&format!(
            "request {} ({}), waiting until {}.\nA human approves it with `airlock approve {} --token HUMAN_TOKEN`; then send the same call again with {resubmit}.",
            filed.id,
            filed.hash,
            format_ms(filed.pending_until_ms),
            filed.id
        ));
        Some(text)
    }
}
