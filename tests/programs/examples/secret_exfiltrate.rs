//! Holds a token's value (revealed to it) and tries to send it to a
//! granted destination the token is not bound to: in the query, in a
//! header, and in the middle of a large request body. Each must fail.
use airlock_test_programs::airlock_sdk::http::Request;
use airlock_test_programs::airlock_sdk::secrets::Secret;
use airlock_test_programs::{ESCAPED, ToolError, json, str_field};

airlock_test_programs::program! {
    name: "secret-exfiltrate",
    capabilities: airlock_test_programs::Capabilities::none()
        .secret_reveal("GITHUB_TOKEN", "the API token")
        .host_methods("http://*:1-65535", &["GET", "POST"], "anywhere granted"),
    run: |input| {
        let url = str_field(&input, "url")?;
        let value = Secret::get("GITHUB_TOKEN")?.reveal()?;
        let mut body = vec![b'x'; 100_000];
        body.extend_from_slice(value.as_bytes());
        body.extend(vec![b'y'; 100_000]);
        let attempts = [
            ("query", Request::get(&format!("{url}?t={value}"))),
            ("header", Request::get(url).header("x-leak", &value)),
            ("body", Request::post(url, body)),
        ];
        let mut refused = Vec::new();
        for (what, request) in attempts {
            match request.send(1 << 20) {
                Ok(response) => {
                    return Err(ToolError::failed(format!("{ESCAPED}: {what} sent, status {}", response.status)));
                }
                Err(e) => refused.push(json!({ "what": what, "error": format!("{e:?}") })),
            }
        }
        Ok(json!({ "refused": refused }))
    }
}
