//! A real OCI registry on loopback for tests: the CNCF Distribution
//! server (Debian's `docker-registry` package; `.ci/run` installs it),
//! started on `127.0.0.1` with a fresh storage directory and stopped when
//! the [`TestRegistry`] is dropped. Never a mock: what it stores and serves
//! is what a real registry would.
//!
//! The program is `$AIRLOCK_REGISTRY_BIN`, else `docker-registry` or
//! `registry` on `PATH`. Without it [`TestRegistry::start`] returns `None`
//! and the test skips, unless `AIRLOCK_REQUIRE_REGISTRY` is set (as CI sets
//! it): then it panics.
#![forbid(unsafe_code)]

pub mod sigstore;
mod token;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct TestRegistry {
    child: Child,
    address: String,
    storage: PathBuf,
    tokens: Option<token::TokenServer>,
    _dir: tempfile::TempDir,
}

/// How a test registry authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Anonymous,
    /// HTTP basic authentication against an htpasswd file.
    Password,
    /// Docker's bearer-token flow, against a token server of the test's.
    Token,
}

fn program() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AIRLOCK_REGISTRY_BIN") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["docker-registry", "registry"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The user a registry from [`TestRegistry::start_with_password`] accepts.
pub const USER: &str = "ci";
/// Its password.
pub const PASSWORD: &str = "airlock-test-password";
/// [`PASSWORD`] as bcrypt, for the registry's htpasswd file.
const PASSWORD_BCRYPT: &str = "$2b$05$airlocktestsaltairloceSfe9TlDPjvuLFKfL5AwjW.FINSvCdJu";

impl TestRegistry {
    /// Starts a registry on a free port of `127.0.0.1`, or `None` when the
    /// program is missing (see the module docs).
    pub fn start() -> Option<Self> {
        Self::start_configured(Auth::Anonymous)
    }

    /// [`TestRegistry::start`], with HTTP basic authentication: only
    /// [`USER`] with [`PASSWORD`] may pull or push.
    pub fn start_with_password() -> Option<Self> {
        Self::start_configured(Auth::Password)
    }

    /// [`TestRegistry::start`], with the bearer-token flow: the registry
    /// sends clients to a token server on loopback, which gives [`USER`]
    /// with [`PASSWORD`] a token for what it asks, an anonymous client a
    /// token granting nothing, and wrong credentials `401`.
    pub fn start_with_token_server() -> Option<Self> {
        Self::start_configured(Auth::Token)
    }

    fn start_configured(auth: Auth) -> Option<Self> {
        let Some(program) = program() else {
            assert!(
                std::env::var_os("AIRLOCK_REQUIRE_REGISTRY").is_none(),
                "AIRLOCK_REQUIRE_REGISTRY is set but no docker-registry is installed"
            );
            eprintln!("skipped: no docker-registry (Debian package docker-registry) on PATH");
            return None;
        };
        let dir = tempfile::tempdir().expect("registry tempdir");
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: airlock-test\n",
            storage.display()
        );
        let mut tokens = None;
        match auth {
            Auth::Anonymous => {}
            Auth::Password => {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{USER}:{PASSWORD_BCRYPT}\n")).expect("htpasswd");
                text.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: airlock-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            Auth::Token => {
                let server = token::TokenServer::start();
                let bundle = dir.path().join("token-signer.pem");
                std::fs::write(&bundle, &server.certificate_pem).expect("rootcertbundle");
                text.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm,
                    token::SERVICE,
                    token::ISSUER,
                    bundle.display()
                ));
                tokens = Some(server);
            }
        }
        std::fs::write(&config, text).expect("registry config");
        let mut child = Command::new(&program)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.split("listening on ").nth(1) {
                    let address = rest.split(['"', ' ']).next().unwrap_or("").to_owned();
                    sent = tx.send(address).is_ok();
                }
            }
        });
        let address = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("{} did not report its address within 20 s", program.display())
        });
        let registry = Self { child, address, storage, tokens, _dir: dir };
        registry.wait_ready();
        Some(registry)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.address).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("registry at {} does not accept connections", self.address);
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `oci://127.0.0.1:PORT/REPOSITORY:TAG`.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!("oci://{}/{repository}:{tag}", self.address)
    }

    /// The file a blob is stored in (to tamper with it, as a compromised
    /// registry or a corrupting mirror would).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// For a registry from [`TestRegistry::start_with_token_server`]: how
    /// many tokens granting access were issued to [`USER`], how many
    /// granting nothing to anonymous clients, and how many requests were
    /// refused for wrong credentials.
    pub fn tokens_issued(&self) -> (usize, usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        let counts = &self.tokens.as_ref().expect("a registry with a token server").counts;
        (counts.granted.load(SeqCst), counts.anonymous.load(SeqCst), counts.refused.load(SeqCst))
    }

    /// The registry's storage root.
    pub fn storage(&self) -> &Path {
        &self.storage
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
