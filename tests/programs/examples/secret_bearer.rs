//! Fetches `url` with the `GITHUB_TOKEN` secret attached by the host (as a
//! bearer token, or in `header` with `template`), and returns the status and
//! body, which may echo the token back.
use airlock_test_programs::airlock_sdk::http::Request;
use airlock_test_programs::airlock_sdk::secrets::Secret;
use airlock_test_programs::{json, str_field};

airlock_test_programs::program! {
    name: "secret-bearer",
    capabilities: airlock_test_programs::Capabilities::none()
        .secret("GITHUB_TOKEN", "the API token")
        .host_methods("http://*:1-65535", &["GET"], "the API"),
    run: |input| {
        let url = str_field(&input, "url")?;
        let token = Secret::get("GITHUB_TOKEN")?;
        let request = match input.get("header").and_then(|h| h.as_str()) {
            Some(header) => {
                let template = input.get("template").and_then(|t| t.as_str()).unwrap_or("{secret}");
                Request::get(url).secret_header(&token, header, template)
            }
            None => Request::get(url).bearer(&token),
        };
        let response = request.send(1 << 20)?;
        Ok(json!({ "status": response.status, "body": String::from_utf8_lossy(&response.body) }))
    }
}
