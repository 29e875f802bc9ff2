//! A loopback HTTP/1.1 fixture server for the network tests. It listens on
//! 127.0.0.1 only, counts every connection it accepts (so a test can prove
//! a refused request never reached it), records each request, and stops
//! when dropped.
//!
//! Routes: `/ok` (200 "hello"), `/redirect?to=URL` (302), `/loop` (302 to
//! itself), `/big` (200, 1 MiB), `/stall` (never answers), `/echo-headers`
//! (200, the request headers), `/echo-encoded` (200, the bearer token in
//! base64, base64url, hex, HEX and %-encoding), `POST /v1/querybatch` (an OSV batch answer:
//! any package named `vulnerable-*` has advisory `GHSA-test-<name>`), `GET
//! /v1/vulns/GHSA-test-<name>` (that advisory: every version of `<name>`
//! below 1.0.0, in crates.io, npm and PyPI).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request the server read.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
}

#[derive(Default)]
struct Shared {
    connections: AtomicUsize,
    requests: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

pub(crate) struct HttpServer {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                std::thread::spawn(move || serve(stream, &state, addr));
            }
        });
        Self { addr, shared, thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.shared.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared, addr: SocketAddr) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else { return };
        let (method, path) = (method.to_owned(), path.to_owned());
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let seen = Seen { method: method.clone(), path: path.clone(), headers: headers.clone() };
        shared.requests.lock().unwrap_or_else(PoisonError::into_inner).push(seen);
        let (status, extra, content) = route(&method, &path, &headers, &body, addr);
        if status == 0 {
            std::thread::sleep(Duration::from_secs(3));
            return;
        }
        let head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{extra}\r\n", content.len());
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&content)).is_err() {
            return;
        }
    }
}

/// Status 0 means "never answer".
fn route(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    addr: SocketAddr,
) -> (u16, String, Vec<u8>) {
    match (method, path.split('?').next().unwrap_or(path)) {
        (_, "/ok") => (200, String::new(), b"hello".to_vec()),
        (_, "/redirect") => {
            let to = path.split_once("?to=").map_or("/ok", |(_, to)| to);
            (302, format!("location: {to}\r\n"), Vec::new())
        }
        (_, "/loop") => (302, format!("location: http://{addr}/loop\r\n"), Vec::new()),
        (_, "/big") => (200, String::new(), vec![b'x'; 1 << 20]),
        (_, "/stall") => (0, String::new(), Vec::new()),
        (_, "/echo-headers") => {
            let text: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            (200, String::new(), text.join("\n").into_bytes())
        }
        (_, "/echo-encoded") => {
            use base64::Engine;
            let auth = headers.iter().find(|(k, _)| k == "authorization").map_or("", |(_, v)| v.as_str());
            let token = auth.strip_prefix("Bearer ").unwrap_or(auth).as_bytes();
            let percent: String = token.iter().map(|b| format!("%{b:02X}")).collect();
            let forms = [
                base64::engine::general_purpose::STANDARD.encode(token),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
                hex::encode(token),
                hex::encode_upper(token),
                percent,
            ];
            (200, String::new(), forms.join("\n").into_bytes())
        }
        ("POST", "/v1/querybatch") => (200, "content-type: application/json\r\n".into(), osv_batch(body)),
        ("GET", p) if p.starts_with("/v1/vulns/GHSA-test-") => {
            (200, "content-type: application/json\r\n".into(), osv_record(&p["/v1/vulns/".len()..]))
        }
        _ => (404, String::new(), b"not found".to_vec()),
    }
}

fn osv_record(id: &str) -> Vec<u8> {
    let name = id.trim_start_matches("GHSA-test-");
    let affected: Vec<serde_json::Value> =
        [("crates.io", "SEMVER"), ("npm", "SEMVER"), ("PyPI", "ECOSYSTEM")]
            .iter()
            .map(|(ecosystem, kind)| {
                serde_json::json!({
                    "package": { "ecosystem": ecosystem, "name": name },
                    "ranges": [{ "type": kind, "events": [{ "introduced": "0" }, { "fixed": "1.0.0" }] }],
                })
            })
            .collect();
    serde_json::to_vec(&serde_json::json!({ "id": id, "affected": affected })).unwrap_or_default()
}

fn osv_batch(body: &[u8]) -> Vec<u8> {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return br#"{"code":3,"message":"bad json"}"#.to_vec();
    };
    let results: Vec<serde_json::Value> = request["queries"]
        .as_array()
        .map(|queries| {
            queries
                .iter()
                .map(|q| match q["package"]["name"].as_str() {
                    Some(name) if name.starts_with("vulnerable-") => serde_json::json!({
                        "vulns": [{ "id": format!("GHSA-test-{name}"), "modified": "2026-01-01T00:00:00Z" }]
                    }),
                    _ => serde_json::json!({}),
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::to_vec(&serde_json::json!({ "results": results })).unwrap_or_default()
}
