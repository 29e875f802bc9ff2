//! What a registry tool costs at load (issue 30), against a real registry
//! on loopback (Debian's docker-registry; skipped without it): a pull into
//! an empty store (manifest + layer, both checked, both stored), a read of
//! a stored component (hashed again), and cosign signature checks: by key,
//! and keyless against offline roots (cosign 2's annotations, and cosign
//! 3's Sigstore bundle stored as a referrer, with its inclusion proof).
//! The component is the 2 MiB-class built-in `grep` tool's size: 1.7 MB of
//! bytes.

use std::time::Duration;

use airlock_registry::{
    ComponentStore, Credentials, OciReference, Registry, TrustedSigner, generate_key, sign, verify,
};
use airlock_test_registry::TestRegistry;
use airlock_test_registry::sigstore::{
    Fulcio, LOGGED_AT, Rekor, bundle_v03, keyless, payload, store_bundles, store_signatures,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench_registry(c: &mut Criterion) {
    let Some(registry) = TestRegistry::start() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
    component.resize(1_700_000, 7);
    let client = Registry::new(Credentials::anonymous());
    let tagged: OciReference = registry.reference("bench/tool", "1").parse().expect("reference");
    let pinned = runtime.block_on(client.push(&component, &tagged)).expect("push");
    let digest = pinned.digest().expect("pinned").to_owned();
    let key = dir.path().join("key");
    let public = generate_key(&key).expect("key");
    runtime.block_on(sign(&pinned, &digest, &key, &Credentials::anonymous())).expect("sign");
    let signers = [TrustedSigner::from_file("bench", &public).expect("signer")];

    let mut group = c.benchmark_group("registry");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    let mut n = 0u32;
    group.bench_function("pull_1_7_MB_into_an_empty_store", |b| {
        b.iter(|| {
            n += 1;
            let store = ComponentStore::open(&dir.path().join(format!("store-{n}"))).expect("store");
            runtime.block_on(client.pull(&pinned, &store)).expect("pull")
        });
    });
    let store = ComponentStore::open(&dir.path().join("store")).expect("store");
    let pulled = runtime.block_on(client.pull(&pinned, &store)).expect("pull");
    group.bench_function("read_stored_1_7_MB_hashed_again", |b| {
        b.iter(|| store.component(&pulled.component_digest).expect("read"));
    });
    group.bench_function("verify_cosign_signature", |b| {
        b.iter(|| {
            runtime.block_on(verify(&pinned, &digest, &signers, &Credentials::anonymous())).expect("verify")
        });
    });

    // Keyless: the same component under two more tags, signed each way.
    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    const IDENTITY: &str = "https://github.com/acme/tools/.github/workflows/release.yml@refs/tags/v1";
    let (fulcio, rekor) = (Fulcio::new(), Rekor::new());
    std::fs::write(dir.path().join("fulcio.pem"), &fulcio.pem).expect("write");
    std::fs::write(dir.path().join("rekor.pub"), rekor.public_key_pem()).expect("write");
    let root = airlock_registry::KeylessRoot::from_files(
        &dir.path().join("fulcio.pem"),
        &[dir.path().join("rekor.pub")],
    )
    .expect("roots");
    let keyless_signers = [TrustedSigner::keyless("ci", ISSUER, IDENTITY, std::sync::Arc::new(root))];
    let mut tagged_component = component.clone();
    tagged_component.push(1);
    let annotated = runtime
        .block_on(
            client.push(&tagged_component, &registry.reference("bench/keyless", "1").parse().expect("ref")),
        )
        .expect("push");
    let annotated_digest = annotated.digest().expect("pinned").to_owned();
    let signature = keyless(
        payload(annotated.registry(), annotated.repository(), &annotated_digest),
        IDENTITY,
        ISSUER,
        &fulcio,
        &rekor,
        LOGGED_AT,
    );
    runtime.block_on(store_signatures(
        annotated.registry(),
        annotated.repository(),
        &annotated_digest,
        &[signature],
    ));
    tagged_component.push(2);
    let bundled = runtime
        .block_on(
            client.push(&tagged_component, &registry.reference("bench/bundled", "1").parse().expect("ref")),
        )
        .expect("push");
    let bundled_digest = bundled.digest().expect("pinned").to_owned();
    let bundle = bundle_v03(&bundled_digest, IDENTITY, ISSUER, &fulcio, &rekor, LOGGED_AT);
    runtime.block_on(store_bundles(bundled.registry(), bundled.repository(), &bundled_digest, &[bundle]));
    group.bench_function("verify_keyless_cosign2_annotations", |b| {
        b.iter(|| {
            runtime
                .block_on(verify(&annotated, &annotated_digest, &keyless_signers, &Credentials::anonymous()))
                .expect("verify")
        });
    });
    group.bench_function("verify_keyless_cosign3_referrer_bundle", |b| {
        b.iter(|| {
            runtime
                .block_on(verify(&bundled, &bundled_digest, &keyless_signers, &Credentials::anonymous()))
                .expect("verify")
        });
    });
    group.finish();
}

criterion_group!(benches, bench_registry);
criterion_main!(benches);
