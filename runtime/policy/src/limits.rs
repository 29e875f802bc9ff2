//! Per-call resource limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Resource limits for one call. Every call has all of them; there is no
/// "unlimited".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock budget for the whole call (instantiate + run). Default 10 s.
    /// A tool still running when it expires is killed.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Largest linear memory the tool may grow to, in bytes. Default 64 MiB.
    /// Growth past it fails; a tool that then traps is reported as having hit
    /// the memory limit.
    pub memory_bytes: u64,
    /// Largest JSON result `invoke` may return, in bytes. Default 1 MiB. A
    /// larger result is discarded and the call fails with a limit error.
    pub output_bytes: u64,
    /// Bytes of stdout and of stderr kept, each. Default 64 KiB. Excess is
    /// dropped and the capture is flagged truncated; the tool never sees an
    /// error for it.
    pub stdio_bytes: u64,
    /// Log lines kept through `airlock:tool/log`. Default 1,000; later lines
    /// are counted and dropped.
    pub log_lines: u32,
    /// Bytes of log lines kept over the whole call (messages, field names
    /// and values, after each is cut to 4 KiB). Default 256 KiB; a line
    /// that would pass it is counted and dropped, like one past
    /// `log_lines`. With it, what a tool's logs make the host hold is
    /// bounded whatever the line count.
    #[serde(default = "default_log_bytes")]
    pub log_bytes: u64,
    /// Resource handles the call may hold at once: open files and
    /// directories, streams, pollables, HTTP fields, requests and
    /// responses, sockets, secret handles. Default 4,096 (64..=65,536).
    /// Every handle is host memory or a host descriptor the call causes;
    /// past it the call ends with a limit, so one call cannot take the
    /// process's memory from the others.
    #[serde(default = "default_handles")]
    pub handles: u32,
    /// Host file descriptors the call may hold at once: files and
    /// directories it opens and sockets it creates. Default 256
    /// (1..=4,096). Past it the call ends with a limit, so one call cannot
    /// take the process's descriptors (`RLIMIT_NOFILE`) from the others.
    #[serde(default = "default_open_files")]
    pub open_files: u32,
    /// Budgets for outgoing HTTP requests.
    #[serde(default)]
    pub net: NetLimits,
}

/// Budgets for one call's outgoing HTTP requests. They matter only when a
/// destination is granted; the call's `timeout` bounds everything anyway.
/// A guest may ask for shorter timeouts, never longer ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetLimits {
    /// Most requests one call may send. Default 32. Refused requests count
    /// too, so a tool cannot probe destinations without bound.
    pub requests: u32,
    /// Most request-body bytes one call may send, over all requests.
    /// Default 1 MiB.
    pub request_bytes: u64,
    /// Most response-body bytes one call may receive, over all responses.
    /// Default 8 MiB. Past it the body read fails.
    pub response_bytes: u64,
    /// Longest wait for a connection (TCP and TLS), in ms. Default 5 s.
    #[serde(with = "millis")]
    pub connect_timeout: Duration,
    /// Longest wait for a response's headers, and between two chunks of
    /// its body, in ms. Default 30 s.
    #[serde(with = "millis")]
    pub response_timeout: Duration,
    /// Most HTTP header bytes (names and values) the tool may build over
    /// the whole call, in all the `fields` it makes. Default 1 MiB
    /// (1 KiB..=64 MiB). Headers are host memory the call's memory limit
    /// does not count; past it the call ends with a limit.
    pub header_bytes: u64,
}

impl Default for NetLimits {
    fn default() -> Self {
        Self {
            requests: 32,
            request_bytes: 1 << 20,
            response_bytes: 8 << 20,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            header_bytes: 1 << 20,
        }
    }
}

fn default_log_bytes() -> u64 {
    256 << 10
}

fn default_handles() -> u32 {
    4096
}

fn default_open_files() -> u32 {
    256
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            stdio_bytes: 64 << 10,
            log_lines: 1000,
            log_bytes: default_log_bytes(),
            handles: default_handles(),
            open_files: default_open_files(),
            net: NetLimits::default(),
        }
    }
}

/// A limit that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// Zero timeout.
    #[error("timeout must be greater than zero")]
    ZeroTimeout,
    /// Memory limit below what any component needs, or above the runtime's
    /// maximum.
    #[error("memory limit {requested} bytes is outside the allowed range 1 MiB..={max} bytes")]
    Memory {
        /// The limit asked for.
        requested: u64,
        /// The runtime's maximum.
        max: u64,
    },
    /// Another limit outside the range the runtime supports.
    #[error("{name} limit {requested} is outside the allowed range {min}..={max}")]
    Range {
        /// The limit's name, as in `airlock.toml`'s `[limits]`.
        name: &'static str,
        /// The limit asked for.
        requested: u64,
        /// The least value that still lets a tool run.
        min: u64,
        /// The most the runtime allows.
        max: u64,
    },
}

impl Limits {
    /// Checks the limits against the runtime's maximum memory per instance.
    pub fn validate(&self, max_memory_bytes: u64) -> Result<(), LimitsError> {
        if self.timeout.is_zero() {
            return Err(LimitsError::ZeroTimeout);
        }
        if self.memory_bytes < (1 << 20) || self.memory_bytes > max_memory_bytes {
            return Err(LimitsError::Memory { requested: self.memory_bytes, max: max_memory_bytes });
        }
        let ranges: [(&'static str, u64, u64, u64); 7] = [
            ("output", self.output_bytes, 1, 1 << 30),
            ("stdio", self.stdio_bytes, 0, 1 << 30),
            ("log_lines", self.log_lines.into(), 0, 1_000_000),
            ("log_bytes", self.log_bytes, 0, 1 << 30),
            ("handles", self.handles.into(), 64, 65_536),
            ("open_files", self.open_files.into(), 1, 4096),
            ("header_bytes", self.net.header_bytes, 1 << 10, 64 << 20),
        ];
        for (name, requested, min, max) in ranges {
            if !(min..=max).contains(&requested) {
                return Err(LimitsError::Range { name, requested, min, max });
            }
        }
        Ok(())
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
