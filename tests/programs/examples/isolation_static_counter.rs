//! Counts calls in a static. Every call gets a fresh instance, so the count
//! must always be 1; anything else means state crossed calls.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use airlock_test_programs::{ToolError, json};

static CALLS: AtomicU64 = AtomicU64::new(0);
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

airlock_test_programs::program! {
    name: "isolation-static-counter",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        let mut seen = SEEN.lock().map_err(|_| ToolError::failed("poisoned"))?;
        seen.push(input.to_string());
        if calls != 1 || seen.len() != 1 {
            return Err(ToolError::failed(format!(
                "{}: call {calls}, earlier inputs visible: {:?}",
                airlock_test_programs::ESCAPED,
                &seen[..seen.len() - 1]
            )));
        }
        Ok(json!({ "calls": calls }))
    }
}
