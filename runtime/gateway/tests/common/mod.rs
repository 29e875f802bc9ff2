//! What the gateway's tests share: an operator's directory.

use airlock_identity::LocalKey;

/// A directory holding `policy` (`policy.cedar`), a fresh issuer key's
/// JWKS (`issuer.jwks.json`) and `airlock.toml`: `config` with `ISSUER`
/// trusted through that JWKS appended. Returns the directory and the key.
pub(crate) fn operator_dir(policy: &str, issuer: &str, config: &str) -> (tempfile::TempDir, LocalKey) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = LocalKey::generate().expect("key");
    std::fs::write(dir.path().join("issuer.jwks.json"), key.jwks().to_string()).expect("jwks");
    std::fs::write(dir.path().join("policy.cedar"), policy).expect("policy");
    std::fs::write(
        dir.path().join("airlock.toml"),
        format!("{config}\n[[issuer]]\niss = \"{issuer}\"\njwks = \"issuer.jwks.json\"\n"),
    )
    .expect("config");
    (dir, key)
}
