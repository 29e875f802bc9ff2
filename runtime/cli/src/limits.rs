//! Per-call limits from the command line: the config's (or the defaults)
//! with the flags given applied, checked against what the runtime supports
//! before anything is loaded; and the descriptor headroom `serve` makes.

use airlock_gateway::limits::validated;
use airlock_policy::Limits;

use crate::args::LimitArgs;
use crate::exit::Failure;

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
    validated(limits).map_err(Failure::usage)
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
    fn a_flag_overrides_the_base_and_the_rest_stay() {
        let base = Limits { output_bytes: 2 << 20, open_files: 32, ..Limits::default() };
        let flags = LimitArgs { max_open_files: Some(64), ..LimitArgs::default() };
        let limits = with_flags(base, &flags).expect("valid");
        assert_eq!((limits.open_files, limits.output_bytes), (64, 2 << 20));
        assert_eq!(limits.log_lines, Limits::default().log_lines);
    }

    #[test]
    fn an_out_of_range_flag_is_a_usage_error_naming_it() {
        let flags = LimitArgs { max_handles: Some(8), ..LimitArgs::default() };
        let err = with_flags(Limits::default(), &flags).expect_err("too few handles");
        assert_eq!(err.code, crate::exit::USAGE);
        assert!(format!("{:#}", err.error).contains("(--max-handles, `[limits] max_handles`)"));
    }
}
