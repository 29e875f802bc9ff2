//! Per-call limits from the configuration: `[limits]` (and `[network]`,
//! read with the rest of the file), checked against what the runtime
//! supports, so a limit out of range is an error naming its flag and key,
//! never a failed call.

use airlock_host::RuntimeConfig;
use airlock_policy::{Limits, LimitsError};
use anyhow::anyhow;
use serde::Deserialize;

use crate::units::{parse_duration, parse_size};

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
        validated(limits).map_err(|e| anyhow!("config `[limits]`: {e}"))
    }
}

/// `limits`, if the runtime supports them; else the error, naming the
/// flag and the `airlock.toml` key that set the one out of range.
pub fn validated(limits: Limits) -> Result<Limits, crate::ConfigError> {
    checked(limits).map_err(crate::ConfigError::from)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_apply_over_the_defaults() {
        let file: LimitsFile =
            toml::from_str("max_output = \"2MiB\"\nmax_open_files = 32\ntimeout = \"3s\"").expect("parses");
        let limits = file.apply(Limits::default()).expect("valid");
        assert_eq!((limits.output_bytes, limits.open_files), (2 << 20, 32));
        assert_eq!(limits.timeout, std::time::Duration::from_secs(3));
        assert_eq!(limits.log_lines, Limits::default().log_lines);
    }

    #[test]
    fn an_out_of_range_limit_names_its_flag_and_key() {
        let err = validated(Limits { handles: 8, ..Limits::default() }).expect_err("too few handles");
        assert_eq!(
            err.to_string(),
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
