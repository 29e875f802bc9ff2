//! The diff half of the staging overhead budget (issue: 5,000 files, 50 MB,
//! a 3-file change, staging + diff + apply ≤ 300 ms): comparing the
//! workspace with a stage that differs in three files. Equal-size files
//! are compared byte for byte, so this reads both trees.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::path::Path;
use std::time::Duration;

use airlock_workspace::Changeset;
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

fn copy_tree(from: &Path, to: &Path) {
    for dir in std::fs::read_dir(from).expect("read") {
        let dir = dir.expect("entry").path();
        let target = to.join(dir.file_name().expect("name"));
        std::fs::create_dir_all(&target).expect("mkdir");
        for file in std::fs::read_dir(&dir).expect("read") {
            let file = file.expect("entry").path();
            std::fs::copy(&file, target.join(file.file_name().expect("name"))).expect("copy");
        }
    }
}

fn bench(c: &mut Criterion) {
    let workspace = tempfile::tempdir().expect("tempdir");
    let stage = tempfile::tempdir().expect("tempdir");
    fixture(workspace.path());
    copy_tree(workspace.path(), stage.path());
    std::fs::write(stage.path().join("d1/f1.txt"), vec![b'x'; 10_000]).expect("modify");
    std::fs::write(stage.path().join("d2/new.txt"), b"added").expect("add");
    std::fs::remove_file(stage.path().join("d3/f3.txt")).expect("delete");
    let mut group = c.benchmark_group("diff");
    group.measurement_time(Duration::from_secs(10)).sample_size(20);
    group.bench_function("5000_files_50MB_3_changes", |b| {
        b.iter(|| {
            let changes = Changeset::between(workspace.path(), stage.path()).expect("diff");
            assert_eq!(changes.changes().len(), 3);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
