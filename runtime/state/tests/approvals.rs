//! Approvals shared by a fleet, in a real PostgreSQL (see `replay.rs` for
//! the database used): a request filed through one replica's store is
//! approved through another's and redeemed exactly once however many
//! replicas race for it; a break-glass window opened anywhere covers every
//! replica until it ends.

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use airlock_approval::{ApprovalError, ApprovalStore, Authority, CallRequest, State};
use airlock_policy::authz::{Authorizer, PolicySource, ToolIdentity};
use airlock_policy::{CapabilityRequest, GrantSet, Principal};
use airlock_state::{Database, PgApprovals};
use serde_json::{Value, json};

mod common;

use common::{Fresh, fresh};

/// A replica's store: its own pool on the shared schema.
fn replica(fresh: &Fresh) -> ApprovalStore {
    ApprovalStore::shared(Box::new(PgApprovals::new(Arc::new(Database::open(&fresh.0).expect("open")))))
}

fn principal(sub: &str, claims: Value) -> Principal {
    let Value::Object(map) = claims else { panic!("claims must be an object") };
    Principal::from_claims(sub, "https://id.example", &map).expect("principal")
}

fn request(caller: &Principal) -> CallRequest {
    let source = PolicySource {
        name: "p.cedar".into(),
        text: "@id(\"needs-a-human\") @approval(\"human\")\npermit (principal, action == Action::\"invoke\", resource);".into(),
    };
    let authorizer = Authorizer::new(&[source]).expect("policy");
    let tool = ToolIdentity::file("push", "1.0.0", "sha256:ab");
    let decision = authorizer.decide(caller, &tool, &CapabilityRequest::default()).expect("decide");
    CallRequest::new(caller, &decision, &GrantSet::default(), "sha256:input")
}

#[test]
fn filed_on_one_replica_approved_on_another_redeemed_once_by_twenty_racers() {
    let Some(fresh) = fresh() else { return };
    let agent = principal("agent:fixer", json!({"owner": "human:alice"}));
    let call = request(&agent);
    let now = SystemTime::now();
    let filed = replica(&fresh).file(&call, now, Duration::from_secs(600)).expect("file");
    assert_eq!(filed.state, State::Pending);
    let again = replica(&fresh).file(&call, now, Duration::from_secs(600)).expect("file again");
    assert_eq!(again.id, filed.id, "a retried call finds its request on any replica");

    let listed = replica(&fresh).pending(now).expect("pending");
    assert_eq!(listed.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), [filed.id.as_str()]);
    let owner = replica(&fresh).approve(
        &filed.id,
        &principal("human:alice", json!({})),
        None,
        now,
        Duration::from_secs(600),
    );
    assert!(matches!(owner, Err(ApprovalError::SelfApproval { .. })), "{owner:?}");
    let approved = replica(&fresh)
        .approve(
            &filed.id,
            &principal("human:bob", json!({})),
            Some("looks right"),
            now,
            Duration::from_secs(600),
        )
        .expect("approve");
    assert_eq!(approved.state, State::Approved);

    let stores: Vec<Arc<ApprovalStore>> = (0..20).map(|_| Arc::new(replica(&fresh))).collect();
    let start = Arc::new(Barrier::new(stores.len()));
    let racers: Vec<_> = stores
        .into_iter()
        .map(|store| {
            let (start, call, id) = (start.clone(), call.clone(), filed.id.clone());
            std::thread::spawn(move || {
                start.wait();
                store.redeem(&id, &call, SystemTime::now())
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().expect("racer")).collect();
    let used: Vec<_> = results.iter().filter(|r| matches!(r, Ok(Authority::Approval { .. }))).collect();
    assert_eq!(used.len(), 1, "exactly one redemption: {results:?}");
    assert!(
        results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(ApprovalError::AlreadyUsed { .. })))
    );
    let counts = replica(&fresh).counts(SystemTime::now()).expect("counts");
    assert_eq!(counts[2], (State::Used, 1));
}

#[test]
fn a_break_glass_window_opened_anywhere_covers_every_replica_until_it_ends() {
    let Some(fresh) = fresh() else { return };
    let agent = principal("agent:fixer", json!({}));
    let carol = principal("human:carol", json!({}));
    let now = SystemTime::now();
    let window = replica(&fresh)
        .open_break_glass(
            &carol,
            "agent:fixer",
            "https://id.example",
            "incident 42",
            now,
            Duration::from_secs(60),
        )
        .expect("open");
    let requester = request(&agent).requester;
    let seen = replica(&fresh).break_glass_for(&requester, now).expect("windows");
    assert_eq!(seen.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), [window.id.as_str()]);
    let later = now + Duration::from_secs(61);
    assert!(
        replica(&fresh).break_glass_for(&requester, later).expect("windows").is_empty(),
        "ended everywhere"
    );
}
