//! Filesystem grants: each granted mount becomes one preopened directory.
//!
//! Enforcement is wasmtime-wasi's: every path a guest opens is resolved
//! beneath the preopen (`openat2` with `RESOLVE_BENEATH` on Linux, a manual
//! component-by-component resolver elsewhere). `..` that would leave the
//! mount, absolute symlinks, and relative symlinks pointing outside are all
//! refused; a host path with no preopen does not exist for the guest. A
//! read-only mount refuses every write, create, rename and removal.
//!
//! What a mount holds is not trusted either: opening a FIFO without a
//! writer blocks in `open(2)`, out of reach of the call's deadline (the
//! epoch interrupt only fires while wasm runs), and a device node is not a
//! file. [`add_open_guard`] puts a check in front of wasmtime-wasi's
//! `open-at`: anything that is not a regular file, a directory or a
//! symlink (resolved as the open would) is refused with `access` before
//! any `open(2)`. A guest cannot make a FIFO or a device (WASI has no
//! `mknod`); another process of the host swapping one in between the check
//! and the open is the one residual race (documented in the README). The
//! same guard charges every opened file to the call's descriptor budget
//! ([`crate::descriptors`]).

use airlock_policy::{Access, MountGrant};
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::FsError;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::descriptors::Kind;
use crate::error::CallError;
use crate::state::HostState;

/// The `wasi:filesystem/types` instance whose `open-at` is guarded (the
/// version wasmtime-wasi 48 defines; guests importing any 0.2.x match it).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

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

/// Replaces wasmtime-wasi's `[method]descriptor.open-at` with one that
/// first looks at what the path names (`stat-at`, following symlinks as the
/// open would) and refuses FIFOs, sockets, character and block devices and
/// unknown kinds; everything else (including paths that do not exist yet,
/// for `create`) goes to wasmtime-wasi's own `open-at` unchanged.
pub(crate) fn add_open_guard(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(FILESYSTEM_TYPES)?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                state.descriptors.admit(&state.table)?;
                let mut fs = state.filesystem();
                let probe = Resource::<Descriptor>::new_borrow(fd.rep());
                if let Ok(stat) = fs.stat_at(probe, path_flags, path.clone()).await
                    && !openable(stat.type_)
                {
                    return Ok((Err(ErrorCode::Access),));
                }
                let opened = error_code(fs.open_at(fd, path_flags, path, oflags, flags).await)?;
                if let Ok(file) = &opened {
                    state.descriptors.opened(file.rep(), Kind::File);
                }
                Ok((opened,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Whether an entry of this kind may be opened: regular files,
/// directories and symlinks (an `open` without `symlink-follow` on a
/// symlink fails by itself).
fn openable(kind: DescriptorType) -> bool {
    matches!(kind, DescriptorType::RegularFile | DescriptorType::Directory | DescriptorType::SymbolicLink)
}

/// A WASI error code for the guest, or the trap wasmtime-wasi raised.
fn error_code<T>(result: Result<T, FsError>) -> wasmtime::Result<Result<T, ErrorCode>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) => error.downcast().map(Err),
    }
}
