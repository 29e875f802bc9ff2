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
//!
//! [`add_usage_tracking`] notes, for the audit, how each mount is used
//! ([`crate::usage`]): the preopens the guest receives, what it opens
//! beneath them and with which flags, and which reads (listing, looking
//! at) and changes (creating, removing, renaming, linking, setting times)
//! succeed. The shadows only delegate to wasmtime-wasi and take notes.

use airlock_policy::{Access, MountGrant};
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::FsError;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, HostDescriptor, NewTimestamp, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::descriptors::Kind;
use crate::error::CallError;
use crate::state::HostState;

/// The `wasi:filesystem/types` instance whose `open-at` is guarded (the
/// version wasmtime-wasi 48 defines; guests importing any 0.2.x match it).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
/// The `wasi:filesystem/preopens` instance, whose `get-directories` hands
/// the guest its mounts.
const FILESYSTEM_PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

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
                let parent = fd.rep();
                let (read, written) = (
                    flags.contains(DescriptorFlags::READ),
                    flags.intersects(DescriptorFlags::WRITE | DescriptorFlags::MUTATE_DIRECTORY)
                        || oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE),
                );
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
                    state.mounts.opened(parent, file.rep(), read, written);
                }
                Ok((opened,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A `[method]descriptor.*` shadow that calls wasmtime-wasi's own method
/// and, when it succeeds, notes the use (`read` or `written`) of the
/// mount its descriptor belongs to.
macro_rules! noting {
    ($types:expr, $name:literal, $method:ident, $use:ident, ($($arg:ident: $ty:ty),*)) => {
        $types.func_wrap_async($name, |mut store, (fd, $($arg,)*): (Resource<Descriptor>, $($ty,)*)| {
            Box::new(async move {
                let rep = fd.rep();
                let state = store.data_mut();
                let result = error_code(state.filesystem().$method(fd, $($arg),*).await)?;
                if result.is_ok() {
                    state.mounts.$use(rep);
                }
                Ok((result,))
            })
        })?;
    };
}

/// Shadows the preopens and the `wasi:filesystem/types` methods that read
/// or change a directory's contents with ones that note each mount's use.
/// `open-at` is noted by [`add_open_guard`]; reads and writes through an
/// opened file count as what it was opened for.
pub(crate) fn add_usage_tracking(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;

    linker.allow_shadowing(true);
    linker.instance(FILESYSTEM_PREOPENS)?.func_wrap("get-directories", |mut store, (): ()| {
        let state = store.data_mut();
        let directories = state.filesystem().get_directories()?;
        for (directory, guest) in &directories {
            state.mounts.preopened(directory.rep(), guest);
        }
        Ok((directories,))
    })?;
    let mut types = linker.instance(FILESYSTEM_TYPES)?;
    noting!(types, "[method]descriptor.read-directory", read_directory, read, ());
    noting!(types, "[method]descriptor.stat-at", stat_at, read, (flags: PathFlags, path: String));
    noting!(types, "[method]descriptor.readlink-at", readlink_at, read, (path: String));
    noting!(types, "[method]descriptor.create-directory-at", create_directory_at, written, (path: String));
    noting!(types, "[method]descriptor.remove-directory-at", remove_directory_at, written, (path: String));
    noting!(types, "[method]descriptor.unlink-file-at", unlink_file_at, written, (path: String));
    noting!(types, "[method]descriptor.symlink-at", symlink_at, written, (old: String, new: String));
    noting!(
        types,
        "[method]descriptor.set-times-at",
        set_times_at,
        written,
        (flags: PathFlags, path: String, atime: NewTimestamp, mtime: NewTimestamp)
    );
    // Renames and links change the directory of the second descriptor too.
    types.func_wrap_async(
        "[method]descriptor.rename-at",
        |mut store, (fd, old, to, new): (Resource<Descriptor>, String, Resource<Descriptor>, String)| {
            Box::new(async move {
                let (from_rep, to_rep) = (fd.rep(), to.rep());
                let state = store.data_mut();
                let result = error_code(state.filesystem().rename_at(fd, old, to, new).await)?;
                if result.is_ok() {
                    state.mounts.written(from_rep);
                    state.mounts.written(to_rep);
                }
                Ok((result,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.link-at",
        |mut store,
         (fd, flags, old, to, new): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                let (from_rep, to_rep) = (fd.rep(), to.rep());
                let state = store.data_mut();
                let result = error_code(state.filesystem().link_at(fd, flags, old, to, new).await)?;
                if result.is_ok() {
                    state.mounts.read(from_rep);
                    state.mounts.written(to_rep);
                }
                Ok((result,))
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
