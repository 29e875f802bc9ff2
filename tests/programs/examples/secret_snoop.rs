//! Tries every way to see a secret's value: the environment, arguments,
//! files, the handle's debug output, `reveal`, and a dump of its own linear
//! memory after `get`. Returns all of it; the host test checks that the
//! value (in any encoding) appears nowhere, so nothing was redacted.
use airlock_test_programs::airlock_sdk::secrets::Secret;
use airlock_test_programs::json;

airlock_test_programs::program! {
    name: "secret-snoop",
    capabilities: airlock_test_programs::Capabilities::none()
        .secret_reveal("GITHUB_TOKEN", "to prove the value never reaches the tool")
        .host("http://*:1-65535", "where the secret may be sent"),
    run: |input| {
        let secret = Secret::get("GITHUB_TOKEN")?;
        let revealed = match secret.reveal() {
            Ok(value) => json!({ "revealed": value }),
            Err(e) => json!({ "reveal_error": e.to_string() }),
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        let args: Vec<String> = std::env::args().collect();
        let files: Vec<String> = std::fs::read_dir("/")
            .map(|d| d.filter_map(Result::ok).map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        Ok(json!({
            "handle": format!("{secret:?}"),
            "name": secret.name(),
            "reveal": revealed,
            "env": env,
            "args": args,
            "files": files,
            "memory": memory_hex(),
        }))
    }
}

/// The tool's whole linear memory (but byte 0), hex-encoded.
#[cfg(target_arch = "wasm32")]
fn memory_hex() -> String {
    let len = core::arch::wasm32::memory_size(0) * 65536;
    let mut bytes = vec![0u8; len - 1];
    #[allow(unsafe_code, reason = "reading the tool's own linear memory is the point of the test")]
    // SAFETY: addresses 1..len are inside linear memory, which is readable
    // as bytes; `bytes` was allocated before the copy and is not read from.
    unsafe {
        core::ptr::copy_nonoverlapping(1 as *const u8, bytes.as_mut_ptr(), len - 1);
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Off wasm (a host build of the examples) there is no linear memory.
#[cfg(not(target_arch = "wasm32"))]
fn memory_hex() -> String {
    String::new()
}
