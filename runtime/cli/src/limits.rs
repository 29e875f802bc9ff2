//! Per-call limits: the defaults, then the config's `[limits]` and
//! `[network]`, then the command line's flags. The result is checked
//! against what the runtime supports before anything is loaded, so a limit
//! out of range is a usage error naming the flag and the key, never a
//! failed call.

use airlock_host::RuntimeConfig;
use airlock_policy::{Limits, LimitsError};
use anyhow::anyhow;
use serde::Deserialize;

use crate::args::{LimitArgs, parse_duration, parse_size};
use crate::exit::Failure;

/// `[limits]`; every key optional. Sizes and durations are strings
/// (`"1MiB"`, `"10s"`), counts are integers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsFile {
    timeout: Option<String>,
    memory: Option<String>,
    max_output: Option<String>,
    max_stdio: Option<String>,
    max_log_lines: Option<u32>,
    max_log_bytes: Option<String>,
    max_handles: Option<u32>,
    max_open_files: Option<u32>,
}

impl LimitsFile {
    /// `limits` with every key this table sets.
    pub(crate) fn apply(&self, mut limits: Limits) -> anyhow::Result<Limits> {
        let size = |key: &str, text: &Option<String>, into: &mut u64| -> anyhow::Result<()> {
            if let Some(text) = text {
                *into = parse_size(text).map_err(|e| anyhow!("config `limits.{key}`: {e}"))?;
            }
            Ok(())
        };
        if let Some(text) = &self.timeout {
            limits.timeout = parse_duration(text).map_err(|e| anyhow!("config `limits.timeout`: {e}"))?;
        }
        size("memory", &self.memory, &mut limits.memory_bytes)?;
        size("max_output", &self.max_output, &mut limits.output_bytes)?;
        size("max_stdio", &self.max_stdio, &mut limits.stdio_bytes)?;
        size("max_log_bytes", &self.max_log_bytes, &mut limits.log_bytes)?;
        limits.log_lines = self.max_log_lines.unwrap_or(limits.log_lines);
        limits.handles = self.max_handles.unwrap_or(limits.handles);
        limits.open_files = self.max_open_files.unwrap_or(limits.open_files);
        checked(limits).map_err(|e| anyhow!("config `[limits]`: {e}"))
    }
}

/// `base` (the defaults, or the config's) with every flag given applied,
/// checked against the runtime's ceilings.
pub(crate) fn with_flags(base: Limits, flags: &LimitArgs) -> Result<Limits, Failure> {
    let limits = Limits {
        timeout: flags.timeout.unwrap_or(base.timeout),
        memory_bytes: flags.memory.unwrap_or(base.memory_bytes),
        output_bytes: flags.max_output.unwrap_or(base.output_bytes),
        stdio_bytes: flags.max_stdio.unwrap_or(base.stdio_bytes),
        log_lines: flags.max_log_lines.unwrap_or(base.log_lines),
        log_bytes: flags.max_log_bytes.unwrap_or(base.log_bytes),
        handles: flags.max_handles.unwrap_or(base.handles),
        open_files: flags.max_open_files.unwrap_or(base.open_files),
        net: base.net,
    };
    checked(limits).map_err(Failure::usage)
}

/// `limits`, if the runtime supports them; else the error, naming the
/// flag and the `[limits]` key that set the one out of range.
fn checked(limits: Limits) -> anyhow::Result<Limits> {
    let ceiling = RuntimeConfig::default().max_memory_bytes;
    match limits.validate(ceiling) {
        Ok(()) => Ok(limits),
        Err(error) => {
            let key = match &error {
                LimitsError::ZeroTimeout => "timeout".to_owned(),
                LimitsError::Memory { .. } => "memory".to_owned(),
                LimitsError::Range { name: "header_bytes", .. } => {
                    return Err(anyhow!("invalid limits: {error} (`[network] max_header_bytes`)"));
                }
                LimitsError::Range { name, .. } => format!("max_{name}"),
                _ => return Err(anyhow!("invalid limits: {error}")),
            };
            Err(anyhow!("invalid limits: {error} (--{}, `[limits] {key}`)", key.replace('_', "-")))
        }
    }
}

/// Descriptors `airlock serve` keeps for itself beyond what calls hold:
/// the listener, connections, the audit log, the artifact cache.
const SERVER_DESCRIPTORS: u64 = 256;

/// Makes room in the process's `RLIMIT_NOFILE` for `calls` calls at once,
/// each holding up to `open_files` descriptors, so that one call's flood
/// can never make another call fail for want of a descriptor: the soft
/// limit is raised toward the hard one when it is lower than that. Returns
/// a warning for the operator when even the hard limit leaves too little.
pub(crate) fn descriptor_headroom(open_files: u32, calls: u32) -> Option<String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let needed = u64::from(open_files) * u64::from(calls) + SERVER_DESCRIPTORS;
    let limit = getrlimit(Resource::Nofile);
    // `None` is "unlimited".
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return None;
    }
    let target = needed.min(limit.maximum.unwrap_or(u64::MAX));
    let now = match setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }) {
        Ok(()) => target,
        Err(_) => soft,
    };
    (now < needed).then(|| {
        format!(
            "{calls} calls (--max-calls) holding up to {open_files} descriptors each (--max-open-files) and the server need {needed} file descriptors, but this process may open only {now} (RLIMIT_NOFILE): a call that takes all of its budget can make other calls fail; raise `ulimit -n`, or lower --max-calls or --max-open-files"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_overrides_the_config_and_the_rest_stay() {
        let file: LimitsFile =
            toml::from_str("max_output = \"2MiB\"\nmax_open_files = 32\ntimeout = \"3s\"").expect("parses");
        let from_config = file.apply(Limits::default()).expect("valid");
        assert_eq!(from_config.output_bytes, 2 << 20);
        assert_eq!(from_config.open_files, 32);
        let flags = LimitArgs { max_open_files: Some(64), ..LimitArgs::default() };
        let limits = with_flags(from_config, &flags).expect("valid");
        assert_eq!((limits.open_files, limits.output_bytes), (64, 2 << 20));
        assert_eq!(limits.timeout, std::time::Duration::from_secs(3));
        assert_eq!(limits.log_lines, Limits::default().log_lines);
    }

    #[test]
    fn an_out_of_range_limit_names_its_flag_and_key() {
        let flags = LimitArgs { max_handles: Some(8), ..LimitArgs::default() };
        let err = with_flags(Limits::default(), &flags).expect_err("too few handles");
        assert_eq!(
            format!("{:#}", err.error),
            "invalid limits: handles limit 8 is outside the allowed range 64..=65536 (--max-handles, `[limits] max_handles`)"
        );
        let file: LimitsFile = toml::from_str("max_log_lines = 2000000").expect("parses");
        let err = file.apply(Limits::default()).expect_err("too many lines");
        assert!(err.to_string().contains("(--max-log-lines, `[limits] max_log_lines`)"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_sizes_are_refused_by_name() {
        let err = toml::from_str::<LimitsFile>("max_outptu = \"1MiB\"").expect_err("unknown key");
        assert!(err.to_string().contains("unknown field `max_outptu`"), "{err}");
        let file: LimitsFile = toml::from_str("max_stdio = \"lots\"").expect("parses");
        let err = file.apply(Limits::default()).expect_err("bad size");
        assert!(err.to_string().starts_with("config `limits.max_stdio`: `lots` is not a size"), "{err}");
    }
}
