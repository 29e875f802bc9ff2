//! A loopback HTTP/1.1 server for the SDK tests (`js_sdk.rs`,
//! `python_sdk.rs`): it listens on 127.0.0.1 only and records every request,
//! so a test can prove a refused request never reached it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The server: `/ok` answers 200,
/// `/no-head` 405 to HEAD and 200 to GET, `/echo-auth` 200 with `you sent
/// <authorization>`, anything else 404. Records `METHOD /path` and the
/// authorization headers it got; stops when dropped.
pub(crate) struct LoopbackServer {
    pub(crate) port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the server was asked.
#[derive(Default)]
struct Seen {
    requests: Vec<String>,
    authorizations: Vec<String>,
}

impl LoopbackServer {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let _ = answer(stream, &seen);
                    }
                }
            }
        });
        LoopbackServer { port, seen, stop, thread: Some(thread) }
    }

    /// `METHOD /path` of every request, in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("seen").requests.clone()
    }

    /// The `authorization` headers `/echo-auth` got.
    pub(crate) fn authorizations(&self) -> Vec<String> {
        self.seen.lock().expect("seen").authorizations.clone()
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `stream` and answers it (connections are not
/// kept alive).
fn answer(stream: TcpStream, seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut seen = seen.lock().expect("seen");
    seen.requests.push(format!("{method} {path}"));
    let (status, body) = match (method, path) {
        (_, "/ok") | ("GET", "/no-head") => ("200 OK", "fine".to_owned()),
        ("HEAD", "/no-head") => ("405 Method Not Allowed", String::new()),
        (_, "/echo-auth") => {
            let sent = authorization.unwrap_or_default();
            seen.authorizations.push(sent.clone());
            ("200 OK", format!("you sent {sent}"))
        }
        _ => ("404 Not Found", "no".to_owned()),
    };
    drop(seen);
    let mut stream = reader.into_inner();
    let body = if method == "HEAD" { String::new() } else { body };
    write!(stream, "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())?;
    stream.flush()
}
