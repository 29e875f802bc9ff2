//! Filesystem grants: each granted mount becomes one preopened directory.
//!
//! Enforcement is wasmtime-wasi's: every path a guest opens is resolved
//! beneath the preopen (`openat2` with `RESOLVE_BENEATH` on Linux, a manual
//! component-by-component resolver elsewhere). `..` that would leave the
//! mount, absolute symlinks, and relative symlinks pointing outside are all
//! refused; a host path with no preopen does not exist for the guest. A
//! read-only mount refuses every write, create, rename and removal.

use airlock_policy::{Access, MountGrant};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::CallError;

/// Adds one preopen per mount grant.
pub(crate) fn prepare(wasi: &mut WasiCtxBuilder, mounts: &[MountGrant]) -> Result<(), CallError> {
    for mount in mounts {
        let perms = match mount.access {
            Access::ReadOnly => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        wasi.preopened_dir(&mount.host, mount.guest.as_str(), perms).map_err(|e| {
            CallError::Grant(format!("mount `{}` at `{}`: {e:#}", mount.host.display(), mount.guest))
        })?;
    }
    Ok(())
}
