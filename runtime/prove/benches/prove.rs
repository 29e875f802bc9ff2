//! Time per policy proof, on the shipped examples (issue 23): `policy diff`
//! of the CI policy against the wider remediation policy (7 checks), and
//! `policy prove` of the CI invariants (14 checks). Each iteration starts
//! its own cvc5 process, as the command does. Needs cvc5 (skipped without).

use std::path::Path;
use std::time::Duration;

use airlock_policy::authz::{Authorizer, PolicySource};
use airlock_prove::{Prover, Solver};
use criterion::{Criterion, criterion_group, criterion_main};

fn policies(files: &[&str]) -> Authorizer {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let sources: Vec<PolicySource> = files
        .iter()
        .map(|f| PolicySource {
            name: (*f).to_owned(),
            text: std::fs::read_to_string(root.join(f)).expect("example policy"),
        })
        .collect();
    Authorizer::new(&sources).expect("valid")
}

fn bench_proofs(c: &mut Criterion) {
    let prover = match Solver::locate(Duration::from_secs(60)) {
        Ok(solver) => Prover::new(solver),
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let ci = policies(&["ci/patch-deps.cedar"]);
    let wider = policies(&["policies/github-actions-remediation.cedar"]);
    let invariants = policies(&["ci/invariants.cedar"]);

    let diff = runtime.block_on(prover.diff(&ci, &wider)).expect("diff");
    let prove = runtime.block_on(prover.prove(&ci, &invariants)).expect("prove");
    eprintln!("diff: {} checks; prove: {} checks", diff.queries, prove.queries);

    let mut group = c.benchmark_group("proof");
    group.sample_size(20);
    group.bench_function("diff_ci_vs_remediation", |b| {
        b.iter(|| runtime.block_on(prover.diff(&ci, &wider)).expect("diff"));
    });
    group.bench_function("prove_ci_invariants", |b| {
        b.iter(|| runtime.block_on(prover.prove(&ci, &invariants)).expect("prove"));
    });
    group.finish();
}

criterion_group!(benches, bench_proofs);
criterion_main!(benches);
