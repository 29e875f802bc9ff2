//! Returns content blocks besides its JSON output, for the tests of rich
//! results: `"kind": "all"` adds one block of every sort; `"bomb"` an
//! `audio/wav` of `mib` MiB (and returns success whatever the host said);
//! `"svg"` an `image/svg+xml` (refused); `"secret"` the revealed
//! `GITHUB_TOKEN` in a text block, an embedded resource and image bytes.
use airlock_test_programs::airlock_sdk::content;
use airlock_test_programs::airlock_sdk::secrets::Secret;
use airlock_test_programs::{Value, json};

/// A 1×1 red PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00,
    0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01,
    0x01, 0x00, 0x18, 0xdd, 0x8d, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60,
    0x82,
];

/// The 44-byte header of an empty 8 kHz mono WAV.
const WAV: &[u8] = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08\x00data\x00\x00\x00\x00";

airlock_test_programs::program! {
    name: "content-blocks",
    capabilities: airlock_test_programs::Capabilities::none()
        .secret_reveal("GITHUB_TOKEN", "to prove a secret in content reaches no client")
        .host("http://*:1-65535", "where the secret may be sent"),
    run: |input| {
        match input.get("kind").and_then(Value::as_str).unwrap_or("all") {
            "all" => {
                content::text("plain text")?;
                content::image("image/png", PNG)?;
                content::audio("audio/wav", WAV)?;
                content::resource_link("file:///workspace/report.md", "report.md", Some("text/markdown"), Some("the report"))?;
                content::embedded_text("file:///workspace/notes.txt", Some("text/plain"), "embedded text")?;
                content::embedded_blob("file:///workspace/blob.bin", Some("application/octet-stream"), &[0, 1, 2, 255])?;
                Ok(json!({ "added": 6 }))
            }
            "bomb" => {
                let mib = input.get("mib").and_then(Value::as_u64).unwrap_or(100);
                let data = vec![0x55_u8; usize::try_from(mib << 20).unwrap_or(usize::MAX)];
                let refused = content::audio("audio/wav", &data).err().map(|e| e.to_string());
                Ok(json!({ "refused": refused }))
            }
            "svg" => {
                let refused = content::image("image/svg+xml", b"<svg onload=\"alert(1)\"/>").err().map(|e| e.to_string());
                Ok(json!({ "refused": refused }))
            }
            _ => {
                let value = Secret::get("GITHUB_TOKEN")?.reveal()?;
                content::text(&format!("token {value}"))?;
                content::embedded_text("file:///x", None, &format!("the token is {value}"))?;
                let mut bytes = PNG.to_vec();
                bytes.extend_from_slice(value.as_bytes());
                content::image("image/png", &bytes)?;
                Ok(json!({}))
            }
        }
    }
}
