//! Sandbox behaviour, end to end: real guest programs (built by
//! `airlock-test-artifacts`) run under the real runtime.
//!
//! Every guest program must have a test here with its name: a program
//! without one fails to compile (`foreach_program!(assert_test_exists)`).

mod cache;
mod fixture;
mod fs;
mod http_server;
mod isolation;
mod limits;
mod load;
mod net;
mod output;
mod sdk;
mod secrets;
mod tools;

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "the import is the check")]
        use self::tests::$name as _;
    };
}

/// Every test program's test, by name.
mod tests {
    pub(crate) use crate::fs::{
        fs_absolute_host_path, fs_escape_dotdot, fs_escape_symlink, fs_read_granted, fs_special_files,
        fs_write_read_only, patch_deps_malicious, workspace_edit,
    };
    pub(crate) use crate::isolation::{
        env_read, instantiation_witness, isolation_static_counter, net_denied,
    };
    pub(crate) use crate::limits::{
        limit_deep_recursion, limit_descriptor_flood, limit_handle_flood, limit_header_flood,
        limit_infinite_loop, limit_memory_bomb, limit_output_too_large, limit_stdout_flood,
    };
    pub(crate) use crate::load::{bad_description, echo, not_a_tool, trap_in_describe, trap_in_invoke};
    pub(crate) use crate::net::net_tcp_granted;
    pub(crate) use crate::output::{log_lines, terminal_forgery};
    pub(crate) use crate::secrets::{
        content_blocks, log_stream, progress_report, secret_bearer, secret_exfiltrate, secret_snoop,
        workspace_secret_echo,
    };
}

airlock_test_artifacts::foreach_program!(assert_test_exists);
