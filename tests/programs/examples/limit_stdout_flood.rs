//! Writes 100 MB to stdout and 1 MB to stderr. Every write must succeed
//! (the host truncates, it does not break the tool).
use std::io::Write;

use airlock_test_programs::{ToolError, json};

airlock_test_programs::program! {
    name: "limit-stdout-flood",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let chunk = [b'x'; 64 * 1024];
        let mut out = std::io::stdout().lock();
        out.write_all(b"FIRST LINE\n").map_err(|e| ToolError::failed(format!("stdout: {e}")))?;
        let mut written = 11u64;
        while written < 100_000_000 {
            out.write_all(&chunk).map_err(|e| ToolError::failed(format!("stdout after {written} bytes: {e}")))?;
            written += chunk.len() as u64;
        }
        out.flush().map_err(|e| ToolError::failed(format!("flush: {e}")))?;
        let mut err = std::io::stderr().lock();
        for _ in 0..16 {
            err.write_all(&chunk).map_err(|e| ToolError::failed(format!("stderr: {e}")))?;
        }
        Ok(json!({ "stdout_bytes": written, "stderr_bytes": 16 * chunk.len() }))
    }
}
