//! What a call used of its grants: per mount, whether it was read and
//! whether it was written; the destinations it contacted; the secrets it
//! attached to requests or revealed; the environment variables it read.
//! Without this, a grant nobody uses cannot be told from one in daily use.
//!
//! Each capability records its own use where the use happens, and only
//! once the operation succeeded (a write refused on a read-only mount, or
//! a request refused by policy, is not a use): the filesystem in
//! [`crate::capability::fs`], the network in its egress report, secrets
//! in the vault, the environment in [`crate::capability::env`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one call used of its grants. Only what was used appears: a granted
/// mount, destination, secret or variable that is absent was not used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Mounts used, by their path in the guest.
    pub mounts: BTreeMap<String, MountUse>,
    /// Destinations a request or socket reached, as the runtime writes them
    /// (`https://api.github.com:443`, `tcp://10.0.0.5:5432`).
    pub destinations: BTreeSet<String>,
    /// Secrets attached to a request that was sent, or revealed, by name.
    pub secrets: BTreeSet<String>,
    /// Environment variables the tool read, by name: every granted one,
    /// once it asked for its environment (WASI hands it over whole).
    pub env: BTreeSet<String>,
}

/// How a mount was used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountUse {
    /// Something in it was opened for reading, listed, or looked at.
    pub read: bool,
    /// Something in it was opened for writing, created, truncated,
    /// renamed, linked, removed, or had its times set.
    pub written: bool,
}

/// Which mount each descriptor the guest holds belongs to, and how each
/// mount was used. Descriptors are known by their resource number: the
/// preopens when the guest asks for them, every other one when it is
/// opened beneath a known one.
#[derive(Debug, Default)]
pub(crate) struct MountTracker {
    guests: Vec<String>,
    uses: Vec<MountUse>,
    descriptors: HashMap<u32, usize>,
}

impl MountTracker {
    /// A tracker for mounts at these guest paths, in grant order.
    pub(crate) fn new(guests: Vec<String>) -> Self {
        let uses = vec![MountUse::default(); guests.len()];
        Self { guests, uses, descriptors: HashMap::new() }
    }

    /// The guest got `rep` as the preopen at `guest`.
    pub(crate) fn preopened(&mut self, rep: u32, guest: &str) {
        if let Some(mount) = self.guests.iter().position(|g| g == guest) {
            self.descriptors.insert(rep, mount);
        }
    }

    /// `child` was opened beneath `parent`, for reading and/or writing.
    pub(crate) fn opened(&mut self, parent: u32, child: u32, read: bool, written: bool) {
        if let Some(&mount) = self.descriptors.get(&parent) {
            self.descriptors.insert(child, mount);
            self.uses[mount].read |= read;
            self.uses[mount].written |= written;
        }
    }

    /// Something beneath `rep` was read (listed, looked at).
    pub(crate) fn read(&mut self, rep: u32) {
        if let Some(&mount) = self.descriptors.get(&rep) {
            self.uses[mount].read = true;
        }
    }

    /// Something beneath `rep` was changed.
    pub(crate) fn written(&mut self, rep: u32) {
        if let Some(&mount) = self.descriptors.get(&rep) {
            self.uses[mount].written = true;
        }
    }

    /// The mounts used, by guest path.
    pub(crate) fn used(&self) -> BTreeMap<String, MountUse> {
        self.guests
            .iter()
            .zip(&self.uses)
            .filter(|(_, used)| used.read || used.written)
            .map(|(guest, used)| (guest.clone(), *used))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_carry_their_mount_and_unknown_ones_count_for_nothing() {
        let mut mounts = MountTracker::new(vec!["/in".into(), "/out".into(), "/unused".into()]);
        mounts.preopened(1, "/in");
        mounts.preopened(2, "/out");
        mounts.opened(1, 10, true, false);
        mounts.opened(2, 11, false, false);
        mounts.opened(11, 12, false, true);
        // A descriptor of no known mount (never preopened) changes nothing.
        mounts.opened(99, 13, true, true);
        mounts.written(98);
        let used = mounts.used();
        assert_eq!(used.len(), 2, "{used:?}");
        assert_eq!(used["/in"], MountUse { read: true, written: false });
        assert_eq!(used["/out"], MountUse { read: false, written: true });
        mounts.read(12);
        assert!(mounts.used()["/out"].read);
    }
}
