//! `http-fetch`: fetches a URL from the destinations the operator granted
//! and returns the status, headers and a bounded body. Redirects are
//! followed only when asked, each hop as a new request the host checks
//! again.
#![deny(unsafe_code)]

use airlock_sdk::http::Request;
use airlock_sdk::{Capabilities, Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The default and largest body returned.
const MAX_BYTES: u64 = 4 << 20;
/// Most redirects followed.
const MAX_REDIRECTS: u8 = 5;

/// Input of `http-fetch`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// `http://` or `https://` URL.
    pub url: String,
    /// `GET` (default), `HEAD` or `POST`.
    #[schemars(regex(pattern = r"^(GET|HEAD|POST)$"))]
    pub method: Option<String>,
    /// Extra request headers (`authorization` and `cookie` are refused).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body (UTF-8).
    pub body: Option<String>,
    /// Most body bytes returned (default and maximum 4 MiB).
    #[schemars(range(min = 1, max = 4194304))]
    pub max_bytes: Option<u64>,
    /// Redirects to follow, 0 (default) to 5. Each hop is checked by the
    /// host like any request.
    #[schemars(range(max = 5))]
    pub follow_redirects: Option<u8>,
}

/// Output of `http-fetch`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The URL of the final response.
    pub url: String,
    /// Status code of the final response.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8), up to `max_bytes`.
    pub body: String,
    /// True when the body was longer than `max_bytes`.
    pub truncated: bool,
    /// The URLs redirected through, in order.
    pub redirects: Vec<String>,
}

/// The tool.
pub struct HttpFetch;

impl Tool for HttpFetch {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "http-fetch";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Fetches a URL (GET, HEAD or POST) from the destinations the operator granted and returns status, headers and up to max_bytes of the body. Follows up to follow_redirects redirects, each checked again.";

    fn capabilities() -> Capabilities {
        let methods = ["GET", "HEAD", "POST"];
        Capabilities::none()
            .host_methods("https://*:1-65535", &methods, "the URLs it is asked to fetch")
            .host_methods("http://*:1-65535", &methods, "the URLs it is asked to fetch")
    }

    fn run(input: Input) -> Result<Output, ToolError> {
        let max = input.max_bytes.unwrap_or(MAX_BYTES).min(MAX_BYTES) as usize;
        let hops = input.follow_redirects.unwrap_or(0).min(MAX_REDIRECTS);
        let mut request = Request::new(input.method.as_deref().unwrap_or("GET"), &input.url);
        request.headers = input.headers;
        request.body = input.body.map(String::into_bytes).unwrap_or_default();
        let mut redirects = Vec::new();
        loop {
            let response = request.send(max)?;
            let location = response.header("location").filter(|_| (300..400).contains(&response.status));
            match location {
                Some(location) if redirects.len() < usize::from(hops) => {
                    let next = resolve(&request.url, location);
                    redirects.push(next.clone());
                    // 303 (and, by long practice, 301/302 after POST) become GET.
                    if response.status != 307 && response.status != 308 {
                        request.method = "GET".into();
                        request.body.clear();
                    }
                    request.url = next;
                }
                _ => {
                    return Ok(Output {
                        url: request.url,
                        status: response.status,
                        headers: response.headers,
                        body: String::from_utf8_lossy(&response.body).into_owned(),
                        truncated: response.truncated,
                        redirects,
                    });
                }
            }
        }
    }
}

/// A `Location` against the URL it came from: absolute URLs as they are,
/// `/path` on the same origin, anything else relative to the directory.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let origin_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[origin_end..].find('/').map_or(base.len(), |i| origin_end + i);
    if location.starts_with('/') {
        return format!("{}{location}", &base[..path_start]);
    }
    let dir_end = base.rfind('/').filter(|i| *i >= path_start).map_or(base.len(), |i| i + 1);
    let dir = &base[..dir_end];
    if dir.ends_with('/') { format!("{dir}{location}") } else { format!("{dir}/{location}") }
}

airlock_sdk::export_tool!(HttpFetch);

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn locations_resolve_against_the_request() {
        assert_eq!(resolve("http://a.test/x/y", "http://b.test/z"), "http://b.test/z");
        assert_eq!(resolve("http://a.test/x/y", "/z"), "http://a.test/z");
        assert_eq!(resolve("http://a.test/x/y", "z"), "http://a.test/x/z");
        assert_eq!(resolve("http://a.test", "z"), "http://a.test/z");
    }
}
