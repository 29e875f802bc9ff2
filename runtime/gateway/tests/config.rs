//! Loading `airlock.toml` as an embedder does: no CLI involved.

use std::path::Path;

use airlock_gateway::config;

mod common;

const POLICY: &str = r#"permit (principal, action, resource) when { principal.sub == "human:alice" };"#;

/// A directory holding a policy, an issuer's JWKS and `airlock.toml` with
/// `extra` appended.
fn setup(extra: &str) -> tempfile::TempDir {
    let config = format!(
        "audience = \"https://airlock.test\"\npolicies = [\"policy.cedar\"]\nreplay_cache = \"state/replay\"\ntools = [\"tools\"]\n{extra}"
    );
    common::operator_dir(POLICY, "https://issuer.test", &config).0
}

#[test]
fn a_valid_configuration_loads_with_paths_from_its_directory_and_its_limits() {
    let dir = setup("\n[limits]\nmax_open_files = 32\n\n[network]\nmax_requests = 3\n");
    let loaded = config::load(&dir.path().join("airlock.toml")).expect("loads");
    assert_eq!(loaded.tools, [dir.path().join("tools")]);
    assert_eq!(loaded.issuers, ["https://issuer.test"]);
    assert_eq!((loaded.limits.open_files, loaded.limits.net.requests), (32, 3));
    assert!(dir.path().join("state/replay").exists(), "the replay cache is made beside the file");
}

#[test]
fn a_bad_configuration_is_refused_whole_naming_the_key_and_the_file() {
    for (extra, message) in [
        ("colour = \"red\"\n", "unknown field `colour`"),
        ("\n[limits]\nmax_open_files = 0\n", "open_files limit 0 is outside the allowed range 1..=4096"),
        (
            "\n[network]\nmax_response_bytes = \"lots\"\n",
            "config `network.max_response_bytes`: `lots` is not a size",
        ),
    ] {
        let dir = setup(extra);
        let path = dir.path().join("airlock.toml");
        let err = config::load(&path).err().expect("refused").to_string();
        assert!(err.contains(message), "{extra}: {err}");
        if extra.starts_with("colour") {
            assert!(err.contains(&path.display().to_string()), "names the file: {err}");
        }
    }
    let err = config::load(Path::new("/nonexistent/airlock.toml")).err().expect("refused").to_string();
    assert_eq!(err, "cannot read config `/nonexistent/airlock.toml`: No such file or directory (os error 2)");
}
