//! What an operator watches while the server runs: Prometheus counters,
//! gauges and histograms of calls, denials, approvals, refusals, audit
//! appends and reloads, rendered in the Prometheus text format.
//!
//! Labels are only ever names airlock fixes or the operator chose: tool
//! names from the loaded tool set, outcomes, policy actions, refusal kinds.
//! Nothing a caller or a token chooses becomes a label (a call to a tool
//! that does not exist is counted under the tool `-`), so no client can
//! grow the metrics without bound, and no identity or secret appears.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use airlock_approval::ApprovalGate;
use airlock_audit::{ApprovalStatus, CallEvent};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The tool label of a call that never reached a loaded tool.
pub const NO_TOOL: &str = "-";

/// Why the metrics could not be set up (a programming error: the names are
/// fixed).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The server's metrics. Cheap to update (atomic counters behind a
/// read-locked map per label set); a gateway without them updates nothing.
pub struct Metrics {
    registry: Registry,
    calls: IntCounterVec,
    call_seconds: HistogramVec,
    denials: IntCounterVec,
    approvals: IntCounterVec,
    network_refusals: IntCounterVec,
    redactions: IntCounterVec,
    audit_append_seconds: Histogram,
    calls_in_flight: IntGauge,
    call_slots: IntGauge,
    token_refusals: IntCounterVec,
    reloads: IntCounterVec,
    approval_requests: IntGaugeVec,
    /// The approval store in force, read at each scrape.
    approval_gate: RwLock<Option<Arc<ApprovalGate>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Call durations, in seconds: 100 µs to about 100 s.
const CALL_BUCKETS: [f64; 13] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0, 100.0];
/// Audit appends, in seconds: 10 µs (group commit) to 1 s (a stalled disk).
const APPEND_BUCKETS: [f64; 10] = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1.0];

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let counters = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, MetricsError> {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let calls = counters("airlock_calls_total", "Tool calls by tool and outcome.", &["tool", "outcome"])?;
        let denials = counters(
            "airlock_policy_denials_total",
            "Capabilities policy denied to a call, by action (invoke, fs.read, net.connect, ...).",
            &["action"],
        )?;
        let approvals = counters(
            "airlock_approvals_total",
            "Calls that needed approval, by what happened: filed for a human, ran on a granted (and now used) approval, or ran in a break-glass window.",
            &["event"],
        )?;
        let network_refusals = counters(
            "airlock_network_refusals_total",
            "Outgoing requests the sandbox refused (destination not granted, budget spent), by tool.",
            &["tool"],
        )?;
        let redactions = counters(
            "airlock_redactions_total",
            "Secret values masked in a tool's output, logs or progress, by tool.",
            &["tool"],
        )?;
        let token_refusals = counters(
            "airlock_token_refusals_total",
            "Requests refused for their token (or its absence), by reason.",
            &["reason"],
        )?;
        let reloads = counters(
            "airlock_reloads_total",
            "Reloads on SIGHUP, by what was reloaded and whether it took effect.",
            &["what", "result"],
        )?;
        let call_seconds = HistogramVec::new(
            HistogramOpts::new(
                "airlock_call_duration_seconds",
                "Time from a call's arrival at the gateway to its audit record, by tool.",
            )
            .buckets(CALL_BUCKETS.to_vec()),
            &["tool"],
        )?;
        registry.register(Box::new(call_seconds.clone()))?;
        let audit_append_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "airlock_audit_append_duration_seconds",
                "Time to append one call's audit record, durably as configured.",
            )
            .buckets(APPEND_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(audit_append_seconds.clone()))?;
        let calls_in_flight =
            IntGauge::new("airlock_calls_in_flight", "Calls running in a sandbox now (instances in use).")?;
        registry.register(Box::new(calls_in_flight.clone()))?;
        let call_slots =
            IntGauge::new("airlock_call_slots", "Calls that may run at once (the instance pool's size).")?;
        registry.register(Box::new(call_slots.clone()))?;
        let approval_requests = IntGaugeVec::new(
            Opts::new(
                "airlock_approval_requests",
                "Approval requests in the store by state: pending (waiting for a human), approved (granted, not used yet), used, expired.",
            ),
            &["state"],
        )?;
        registry.register(Box::new(approval_requests.clone()))?;
        Ok(Self {
            registry,
            calls,
            call_seconds,
            denials,
            approvals,
            network_refusals,
            redactions,
            audit_append_seconds,
            calls_in_flight,
            call_slots,
            token_refusals,
            reloads,
            approval_requests,
            approval_gate: RwLock::new(None),
        })
    }

    /// Everything, in the Prometheus text exposition format (0.0.4). Reads
    /// the approval store (a quick SQLite query) when one is configured.
    pub fn render(&self) -> Result<String, MetricsError> {
        self.count_approval_requests();
        Ok(prometheus::TextEncoder::new().encode_to_string(&self.registry.gather())?)
    }

    /// Reads approval requests by state from `gate`'s store at each scrape
    /// (the gate of the gateway in force: a reload brings its own).
    pub(crate) fn watch_approvals(&self, gate: Arc<ApprovalGate>) {
        *self.approval_gate.write().unwrap_or_else(PoisonError::into_inner) = Some(gate);
    }

    fn count_approval_requests(&self) {
        let gate = self.approval_gate.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(gate) = gate.filter(|gate| gate.configured()) else { return };
        match gate.store().and_then(|store| store.counts(SystemTime::now())) {
            Ok(counts) => {
                for (state, count) in counts {
                    self.approval_requests
                        .with_label_values(&[state.as_str()])
                        .set(i64::try_from(count).unwrap_or(i64::MAX));
                }
            }
            Err(error) => tracing::warn!(%error, "cannot count approval requests for the metrics"),
        }
    }

    /// Sets the size of the instance pool.
    pub fn set_call_slots(&self, slots: u32) {
        self.call_slots.set(i64::from(slots));
    }

    /// Counts a request refused for its token: `reason` is a fixed kind
    /// ([`airlock_identity::TokenError::kind`], or the door's own such as
    /// `no_bearer_token`).
    pub fn token_refused(&self, reason: &'static str) {
        self.token_refusals.with_label_values(&[reason]).inc();
    }

    /// Counts a reload of `what` (`tls`, ...) that took effect or not.
    pub fn reloaded(&self, what: &'static str, took_effect: bool) {
        self.reloads.with_label_values(&[what, if took_effect { "ok" } else { "failed" }]).inc();
    }

    /// Counts one recorded call: `tool` is the loaded tool's name or
    /// [`NO_TOOL`], `elapsed` the whole time in the gateway (unknown for a
    /// call that never reached it).
    pub(crate) fn call(&self, tool: &str, event: &CallEvent, elapsed: Option<Duration>) {
        self.calls.with_label_values(&[tool, event.outcome.as_str()]).inc();
        if let Some(elapsed) = elapsed {
            self.call_seconds.with_label_values(&[tool]).observe(elapsed.as_secs_f64());
        }
        for denied in event.capabilities.iter().filter(|c| !c.allowed) {
            self.denials.with_label_values(&[denied.action.as_str()]).inc();
        }
        if let Some(approval) = &event.approval {
            let what = match approval.status {
                ApprovalStatus::Required => "filed",
                ApprovalStatus::Approved => "used",
                ApprovalStatus::BreakGlass => "break_glass",
            };
            self.approvals.with_label_values(&[what]).inc();
        }
        let effects = &event.effects;
        let refused = u64::try_from(effects.refusals.len())
            .unwrap_or(u64::MAX)
            .saturating_add(effects.refusals_dropped);
        if refused > 0 {
            self.network_refusals.with_label_values(&[tool]).inc_by(refused);
        }
        let masked: u64 = effects.redactions.values().sum();
        if masked > 0 {
            self.redactions.with_label_values(&[tool]).inc_by(masked);
        }
    }

    /// Times one audit append.
    pub(crate) fn appended(&self, elapsed: Duration) {
        self.audit_append_seconds.observe(elapsed.as_secs_f64());
    }

    /// Marks a call as running until the guard is dropped.
    pub(crate) fn running(self: &Arc<Self>) -> Running {
        self.calls_in_flight.inc();
        Running(self.clone())
    }
}

/// A call running in a sandbox; dropping it (however the call ends,
/// cancellation included) takes it off the gauge.
pub(crate) struct Running(Arc<Metrics>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.calls_in_flight.dec();
    }
}
