//! Edits its workspace as told: `write` {path: content}, `delete` [path],
//! `symlink` {link: target}, then `spin` forever if asked (a tool that
//! times out half-way). Paths are relative to /workspace. Good tools,
//! malicious tools and hung tools in one program.
use airlock_test_programs::{ToolError, json};

airlock_test_programs::program! {
    name: "workspace-edit",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        let at = |path: &str| format!("/workspace/{path}");
        let io = |what: &str, e: std::io::Error| ToolError::from_io(what, &e);
        let mut done = Vec::new();
        if let Some(writes) = input.get("write").and_then(|w| w.as_object()) {
            for (path, content) in writes {
                let content = content.as_str().unwrap_or_default();
                if let Some(parent) = std::path::Path::new(&at(path)).parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io("mkdir", e))?;
                }
                std::fs::write(at(path), content).map_err(|e| io(path, e))?;
                done.push(format!("wrote {path}"));
            }
        }
        for path in airlock_test_programs::str_list(&input, "delete") {
            std::fs::remove_file(at(&path)).map_err(|e| io(&path, e))?;
            done.push(format!("deleted {path}"));
        }
        if let Some(links) = input.get("symlink").and_then(|w| w.as_object()) {
            // std has no stable symlink call on WASI: use the preopen directly.
            let preopens = wasip2::filesystem::preopens::get_directories();
            let (dir, _) = preopens
                .iter()
                .find(|(_, path)| path == "/workspace")
                .ok_or_else(|| ToolError::Failed("no /workspace preopen".into()))?;
            for (link, target) in links {
                dir.symlink_at(target.as_str().unwrap_or_default(), link)
                    .map_err(|e| ToolError::Failed(format!("symlink {link}: {e:?}")))?;
                done.push(format!("linked {link}"));
            }
        }
        if input.get("spin").and_then(|s| s.as_bool()).unwrap_or(false) {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        Ok(json!({ "done": done }))
    }
}
