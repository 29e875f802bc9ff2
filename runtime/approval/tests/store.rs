//! The approval store and rules: binding to the request hash, no
//! self-approval, single use (also across handles, threads and restarts),
//! expiry, and break-glass windows.

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use airlock_approval::{
    ApprovalError, ApprovalGate, ApprovalStore, Approvers, Authority, CallRequest, Clearance, HumanRule,
    Requester, State,
};
use airlock_policy::authz::{Authorizer, Decision, PolicySource, ToolIdentity};
use airlock_policy::{
    Access, CapabilityRequest, GrantSet, GuestPath, MountRequest, Offer, OfferedMount, Principal, resolve,
};
use serde_json::{Value, json};

const POLICY: &str = "@id(\"push-needs-a-human\") @approval(\"human\")\npermit (principal, action == Action::\"invoke\", resource);";

const ISS: &str = "https://id.example";

fn principal(sub: &str, claims: Value) -> Principal {
    principal_from(ISS, sub, claims)
}

fn principal_from(iss: &str, sub: &str, claims: Value) -> Principal {
    let Value::Object(map) = claims else { panic!("claims must be an object") };
    Principal::from_claims(sub, iss, &map).expect("principal")
}

fn agent() -> Principal {
    principal(
        "agent:fixer",
        json!({"owner": "human:alice", "act": {"sub": "agent:orchestrator", "act": {"sub": "human:dave"}}}),
    )
}

fn human(sub: &str) -> Principal {
    principal(sub, json!({}))
}

/// The decision for `caller` calling the `push` tool, which needs approval.
fn gated_decision(caller: &Principal) -> Decision {
    let source = PolicySource { name: "p.cedar".into(), text: POLICY.into() };
    let authorizer = Authorizer::new(&[source]).expect("policy");
    let tool = ToolIdentity::file("push", "1.0.0", "sha256:ab");
    let decision = authorizer.decide(caller, &tool, &CapabilityRequest::default()).expect("decide");
    assert_eq!(decision.needing_approval().count(), 1, "{decision}");
    decision
}

/// The request for `caller` calling the tool with input hash `input`.
fn call(caller: &Principal, input: &str) -> CallRequest {
    CallRequest::new(caller, &gated_decision(caller), &GrantSet::default(), input)
}

fn store(dir: &tempfile::TempDir) -> ApprovalStore {
    ApprovalStore::open(dir.path()).expect("open store")
}

const MINUTE: Duration = Duration::from_secs(60);

/// Files `request` and has bob approve it, in a store handle closed again
/// before returning (as if by another process); the request id.
fn approved_by_bob(dir: &tempfile::TempDir, request: &CallRequest, now: SystemTime) -> String {
    let store = store(dir);
    let filed = store.file(request, now, MINUTE).expect("file");
    store.approve(&filed.id, &human("human:bob"), None, now, MINUTE).expect("approve");
    filed.id
}

#[test]
fn the_request_hash_covers_caller_tool_input_and_grants() {
    let first = call(&agent(), "sha256:11");
    assert_eq!(first.hash(), call(&agent(), "sha256:11").hash(), "the hash is stable");
    assert_ne!(first.hash(), call(&agent(), "sha256:22").hash(), "another input");
    assert_ne!(first.hash(), call(&human("agent:other"), "sha256:11").hash(), "another caller");
    let mut other_tool = first.clone();
    other_tool.tool.digest = "sha256:cd".into();
    assert_ne!(first.hash(), other_tool.hash(), "another component");
    assert!(first.hash().starts_with("sha256:") && first.hash().len() == 71, "{}", first.hash());
    assert_eq!(first.gated().collect::<Vec<_>>(), ["invoke Tool::\"push\""]);
}

#[test]
fn the_request_hash_covers_what_the_operator_bound_to_the_call() {
    let request = CapabilityRequest {
        mounts: vec![MountRequest {
            guest_path: GuestPath::new("/workspace").expect("path"),
            access: Access::ReadWrite,
            reason: String::new(),
        }],
        ..CapabilityRequest::default()
    };
    let checkouts = [tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir")];
    let bound = |dir: &tempfile::TempDir, access: Access| {
        let offer = Offer {
            mounts: vec![OfferedMount {
                host: dir.path().to_owned(),
                guest: GuestPath::new("/workspace").expect("path"),
                access,
            }],
            ..Offer::default()
        };
        let grants = resolve("push", &request, &offer).expect("grants");
        CallRequest::new(&agent(), &gated_decision(&agent()), &grants, "sha256:11")
    };
    let first = bound(&checkouts[0], Access::ReadWrite);
    assert_eq!(first.bindings, [format!("mount /workspace = {} (rw)", checkouts[0].path().display())]);
    assert_eq!(first.hash(), bound(&checkouts[0], Access::ReadWrite).hash());
    assert_ne!(first.hash(), bound(&checkouts[1], Access::ReadWrite).hash(), "another checkout");
    assert_ne!(first.hash(), bound(&checkouts[0], Access::ReadOnly).hash(), "another access");
}

#[test]
fn approved_once_used_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    let now = SystemTime::now();
    let request = call(&agent(), "sha256:11");
    let filed = store.file(&request, now, MINUTE).expect("file");
    assert_eq!(filed.state, State::Pending);
    assert!(filed.id.starts_with("apr-") && filed.id.len() == 30, "{}", filed.id);
    let again = store.file(&request, now, MINUTE).expect("file again");
    assert_eq!(again.id, filed.id, "a retried call does not pile up requests");

    let not_yet = store.redeem(&filed.id, &request, now).expect_err("not approved yet");
    assert!(matches!(not_yet, ApprovalError::NotApproved(_)), "{not_yet}");

    let approved =
        store.approve(&filed.id, &human("human:bob"), Some("ENG-1"), now, MINUTE).expect("approve");
    assert_eq!(approved.state, State::Approved);
    let twice =
        store.approve(&filed.id, &human("human:carol"), None, now, MINUTE).expect_err("approve twice");
    assert!(twice.to_string().contains("already approved (by `human:bob`)"), "{twice}");

    let changed = call(&agent(), "sha256:22");
    let mismatch = store.redeem(&filed.id, &changed, now).expect_err("other input");
    assert!(mismatch.to_string().contains("a changed input"), "{mismatch}");
    assert!(mismatch.to_string().contains(&request.hash()), "{mismatch}");

    match store.redeem(&filed.id, &request, now).expect("redeem") {
        Authority::Approval { id, hash, granted } => {
            assert_eq!((id.as_str(), hash.as_str()), (filed.id.as_str(), request.hash().as_str()));
            assert_eq!((granted.approver.as_str(), granted.reason.as_deref()), ("human:bob", Some("ENG-1")));
        }
        other => panic!("expected an approval, got {other:?}"),
    }
    let reused = store.redeem(&filed.id, &request, now).expect_err("reuse");
    assert!(matches!(reused, ApprovalError::AlreadyUsed { .. }), "{reused}");
    assert_eq!(store.get(&filed.id, now).expect("get").state, State::Used);
    let fresh = store.file(&request, now, MINUTE).expect("file after use");
    assert_ne!(fresh.id, filed.id, "a used request is never handed out again");
}

#[test]
fn no_self_approval_by_the_agent_its_owner_or_its_act_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    let now = SystemTime::now();
    let filed = store.file(&call(&agent(), "sha256:11"), now, MINUTE).expect("file");
    for (approver, relation) in [
        ("agent:fixer", "the requesting agent"),
        ("human:alice", "owner"),
        ("agent:orchestrator", "delegation chain"),
        ("human:dave", "delegation chain"),
    ] {
        let error = store.approve(&filed.id, &human(approver), None, now, MINUTE).expect_err(approver);
        assert!(matches!(error, ApprovalError::SelfApproval { .. }), "{approver}: {error}");
        assert!(error.to_string().contains(relation), "{approver}: {error}");
    }
    assert_eq!(store.get(&filed.id, now).expect("get").state, State::Pending, "refusals change nothing");
}

#[test]
fn requests_and_approvals_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    let now = SystemTime::now();
    let request = call(&agent(), "sha256:11");
    let stale = store.file(&request, now, MINUTE).expect("file");
    let late =
        store.approve(&stale.id, &human("human:bob"), None, now + 2 * MINUTE, MINUTE).expect_err("late");
    assert!(matches!(late, ApprovalError::Expired { .. }), "{late}");

    let filed = store.file(&request, now + 2 * MINUTE, MINUTE).expect("file again");
    assert_ne!(filed.id, stale.id, "an expired request is not reused");
    store.approve(&filed.id, &human("human:bob"), None, now + 2 * MINUTE, MINUTE).expect("approve");
    let expired = store.redeem(&filed.id, &request, now + 4 * MINUTE).expect_err("expired approval");
    assert!(expired.to_string().contains("expired at"), "{expired}");
    assert_eq!(store.get(&filed.id, now + 4 * MINUTE).expect("get").state, State::Expired);
    assert!(store.pending(now + 4 * MINUTE).expect("pending").is_empty());
}

#[test]
fn a_restart_neither_loses_an_approval_nor_lets_it_be_used_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = SystemTime::now();
    let request = call(&agent(), "sha256:11");
    let id = approved_by_bob(&dir, &request, now);
    store(&dir).redeem(&id, &request, now).expect("redeem after a restart");
    let reused = store(&dir).redeem(&id, &request, now).expect_err("reuse after a restart");
    assert!(matches!(reused, ApprovalError::AlreadyUsed { .. }), "{reused}");
}

#[test]
fn racing_redeemers_in_separate_handles_use_an_approval_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = SystemTime::now();
    let request = call(&agent(), "sha256:11");
    let id = approved_by_bob(&dir, &request, now);
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (path, id, request, barrier) =
                (dir.path().to_owned(), id.clone(), request.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = ApprovalStore::open(&path).expect("open");
                barrier.wait();
                store.redeem(&id, &request, now).is_ok()
            })
        })
        .collect();
    let used = threads.into_iter().map(|t| t.join().expect("thread")).filter(|ok| *ok).count();
    assert_eq!(used, 1);
}

#[test]
fn who_counts_as_a_human_approver() {
    let approvers = Approvers::new(
        vec![HumanRule { iss: "https://id.example".into(), sub_prefix: "human:".into() }],
        vec!["human:carol".into()],
    );
    approvers.check_human(&human("human:bob")).expect("bob is human");
    let robot = approvers.check_human(&human("agent:bob")).expect_err("agent");
    assert!(robot.to_string().contains("humans are `human:*` from `https://id.example`"), "{robot}");
    let other_issuer =
        Principal::from_claims("human:bob", "https://other.example", &serde_json::Map::new()).expect("p");
    approvers.check_human(&other_issuer).expect_err("another issuer");
    let delegated = principal("human:bob", json!({"act": {"sub": "agent:orchestrator"}}));
    let error = approvers.check_human(&delegated).expect_err("delegated");
    assert!(error.to_string().contains("delegated"), "{error}");
    let nobody =
        Approvers::new(Vec::new(), Vec::new()).check_human(&human("human:bob")).expect_err("no rules");
    assert!(nobody.to_string().contains("no human approvers"), "{nobody}");

    approvers.check_break_glass(&human("human:carol")).expect("carol may break glass");
    let bob = approvers.check_break_glass(&human("human:bob")).expect_err("bob may not");
    assert!(matches!(bob, ApprovalError::NotBreakGlass(_)), "{bob}");
    let long = Approvers::new(Vec::new(), Vec::new()).with_approval_lifetime(Duration::from_secs(7200));
    assert!(long.is_err(), "approvals live at most an hour");
}

#[test]
fn break_glass_windows_are_bounded_reasoned_and_never_self_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir);
    let now = SystemTime::now();
    let carol = human("human:carol");
    let requester = Requester::of(&agent());
    let no_reason =
        store.open_break_glass(&carol, "agent:fixer", ISS, "  ", now, MINUTE).expect_err("reason");
    assert!(matches!(no_reason, ApprovalError::ReasonRequired), "{no_reason}");
    let too_long =
        store.open_break_glass(&carol, "agent:fixer", ISS, "outage", now, 61 * MINUTE).expect_err("long");
    assert!(too_long.to_string().contains("longer than the maximum"), "{too_long}");
    assert!(store.break_glass_for(&requester, now).expect("query").is_empty(), "refusals open nothing");

    let by_owner = store
        .open_break_glass(&human("human:alice"), "agent:fixer", ISS, "outage", now, MINUTE)
        .expect("opened");
    assert!(
        store.break_glass_for(&requester, now).expect("query").is_empty(),
        "the owner's window ({}) does not count",
        by_owner.id
    );

    let window =
        store.open_break_glass(&carol, "agent:fixer", ISS, "INC-7 outage", now, 30 * MINUTE).expect("open");
    assert!(window.id.starts_with("brk-"), "{}", window.id);
    assert_eq!(store.break_glass_for(&requester, now + MINUTE).expect("query"), [window]);
    assert!(
        store.break_glass_for(&requester, now + 31 * MINUTE).expect("query").is_empty(),
        "closed after 30 min"
    );
    let other = Requester::of(&human("agent:other"));
    assert!(store.break_glass_for(&other, now).expect("query").is_empty(), "for one agent only");
    let same_sub_other_issuer =
        Requester::of(&principal_from("https://other-id.example", "agent:fixer", json!({})));
    assert!(
        store.break_glass_for(&same_sub_other_issuer, now + MINUTE).expect("query").is_empty(),
        "a second trusted issuer minting the same `sub` gets no window"
    );
    let no_issuer =
        store.open_break_glass(&carol, "agent:fixer", " ", "outage", now, MINUTE).expect_err("issuer");
    assert!(matches!(no_issuer, ApprovalError::AgentRequired), "{no_issuer}");
}

#[test]
fn the_gate_runs_a_gated_call_in_a_window_only_while_its_opener_is_still_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let humans = || vec![HumanRule { iss: "https://id.example".into(), sub_prefix: "human:".into() }];
    let named =
        ApprovalGate::new(Some(dir.path().to_owned()), Approvers::new(humans(), vec!["human:carol".into()]));
    let now = SystemTime::now();
    let store = named.store().expect("store");
    store
        .open_break_glass(&human("human:carol"), "agent:fixer", ISS, "INC-7", now, 10 * MINUTE)
        .expect("open");
    let decision = gated_decision(&agent());
    let cleared =
        named.clear(&agent(), &decision, &GrantSet::default(), r#"{"a":1}"#, None, now).expect("clear");
    assert!(
        matches!(&cleared, Clearance::Cleared { authority, .. } if matches!(authority.as_ref(), Authority::BreakGlass(_))),
        "{cleared:?}"
    );
    assert_eq!(cleared.audit_record().map(|r| r.status), Some(airlock_audit::ApprovalStatus::BreakGlass));

    let dropped = ApprovalGate::new(Some(dir.path().to_owned()), Approvers::new(humans(), Vec::new()));
    let filed =
        dropped.clear(&agent(), &decision, &GrantSet::default(), r#"{"a":1}"#, None, now).expect("clear");
    assert!(matches!(filed, Clearance::Filed { .. }), "carol is no longer named: {filed:?}");
}

#[cfg(unix)]
#[test]
fn a_store_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let error = ApprovalStore::open(dir.path()).expect_err("shared dir");
    assert!(error.to_string().contains("writable by group or others"), "{error}");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(airlock_approval::DB_FILE),
        b"not sqlite at all, just text padding the header",
    )
    .expect("write");
    let error = ApprovalStore::open(dir.path()).expect_err("garbage");
    assert!(error.to_string().contains("not an airlock approval database"), "{error}");
}
