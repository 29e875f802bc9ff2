//! The staging overhead budget (issue: 5,000 files, 50 MB, a 3-file
//! change, staging + diff + apply ≤ 300 ms): each part alone and the whole
//! cycle a `--workspace` call adds around the tool.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::path::Path;
use std::time::Duration;

use airlock_workspace::{Changeset, Journals, Rules, Stage, StageOptions};
use criterion::{Criterion, criterion_group, criterion_main};

/// 5,000 files of 10,000 bytes in 100 directories.
fn fixture(root: &Path) {
    for i in 0..5_000u32 {
        let dir = root.join(format!("d{}", i % 100));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let byte = u8::try_from(i % 251).unwrap_or(0);
        std::fs::write(dir.join(format!("f{i}.txt")), vec![byte; 10_000]).expect("write");
    }
}

/// What the tool does: rewrites three files with content that differs
/// from every earlier round.
fn edit(stage: &Path, round: u64) {
    for (i, file) in ["d1/f1.txt", "d2/f2.txt", "d3/f3.txt"].iter().enumerate() {
        std::fs::write(stage.join(file), format!("round {round} file {i}\n")).expect("edit");
    }
}

fn bench(c: &mut Criterion) {
    let workspace = tempfile::tempdir().expect("tempdir");
    fixture(workspace.path());
    let state = tempfile::tempdir().expect("tempdir");
    let journals = Journals::open(state.path()).expect("journals");
    let mut group = c.benchmark_group("workspace");
    group.measurement_time(Duration::from_secs(20)).sample_size(10);
    group.bench_function("stage_5000_files_50MB", |b| {
        b.iter(|| Stage::create(workspace.path(), &StageOptions::default()).expect("stage"));
    });
    let stage = Stage::create(workspace.path(), &StageOptions::default()).expect("stage");
    edit(stage.path(), 0);
    group.bench_function("diff_stamped_3_changes", |b| {
        b.iter(|| assert_eq!(stage.changeset().expect("diff").changes().len(), 3));
    });
    group.bench_function("diff_by_content_3_changes", |b| {
        b.iter(|| {
            let changes = Changeset::between(workspace.path(), stage.path()).expect("diff");
            assert_eq!(changes.changes().len(), 3);
        });
    });
    drop(stage);
    let mut round = 0;
    group.bench_function("stage_diff_check_apply_3_changes", |b| {
        b.iter(|| {
            round += 1;
            let stage = Stage::create(workspace.path(), &StageOptions::default()).expect("stage");
            edit(stage.path(), round);
            let changes = stage.changeset().expect("diff");
            assert!(Rules::default().check(&changes).is_empty());
            stage.apply(&changes, &journals).expect("apply");
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
